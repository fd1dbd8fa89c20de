// vvau: streaming vector-vector-activation unit (FINN VVAU semantics): the depthwise convolution.
//
// RTL counterpart of finn-plus' VVAU (VectorVectorActivation) behind a depthwise sliding-window
// generator (SWG, depthwise = 1, SIMD = PE): for every output pixel and channel c it computes
// acc[c] = sum_k x[c, k] * W[c, k] over the KERNEL = K_H*K_W window positions k, then outputs
// either acc (NSTEPS = 0, FINN's noActivation) or the multi-threshold activation
// (number of t with acc >= T[c, t]) + ACT_VAL.
//
// Stream order (what the depthwise SWG with SIMD = PE streams, as hw/rtl/pool.sv): per output
// pixel, for each channel group g = 0 .. NF-1 (NF = CHANNELS/PE; channels g*PE .. g*PE+PE-1) the
// KERNEL window positions come as KERNEL consecutive beats; lane p of a beat at
// s_axis_tdata[p*IN_BITS +: IN_BITS] is channel g*PE+p. Each run of KERNEL beats gives one output
// beat, lane p at m_axis_tdata[p*OUT_BITS +: OUT_BITS] = channel g*PE+p: the output is the NHWC
// tensor in beats of PE channels. No pixel or frame counter is kept. The window (SIMD) dimension
// is not parallel: one window position per beat (finn's VVAU SIMD = 1).
//
// Memories (hex files, one word per line, read with $readmemh in an initial block):
//   WEIGHT_FILE: NF*KERNEL words of PE*W_BITS bits, word g*KERNEL+k; lane p at [p*W_BITS +: W_BITS]
//     holds W[g*PE+p, k] (two's complement if W_SIGNED); k = kh*K_W + kw (im2col order).
//   THRESH_FILE (NSTEPS > 0 only): NF words of PE*NSTEPS*T_BITS bits; lane (p,t) at
//     [(p*NSTEPS+t)*T_BITS +: T_BITS] holds T[g*PE+p, t] (two's complement).
//
// Arithmetic: inputs and weights are extended by one bit (sign bit per IN_SIGNED / W_SIGNED) and
// multiplied as signed numbers (exact). The accumulator is ACC_BITS wide, two's complement
// (wrap-around adds, exact whenever the final sum fits, which the generator guarantees by sizing
// it from the real weights). Thresholds are compared with >= in a width holding both, NSTEPS
// comparators per lane in parallel. With NSTEPS = 0 the output lane is the accumulator
// sign-extended or truncated to OUT_BITS.
//
// Timing: one beat per clock; initiation interval NF*KERNEL cycles per output pixel. Free-running
// pipeline (no stall enable, no combinational path from m_axis_tready to s_axis_tready);
// backpressure by credits as in hw/rtl/mvau.sv: the last beat of a window (k = KERNEL-1) is
// accepted only while the windows in flight plus the beats waiting in the output FIFO are fewer
// than its OFIFO_DEPTH entries. Each stage register loads only when its stage receives a beat
// (threshold word and compares: only a window's last beat), a local clock enable, not a stall:
// idle cycles change nothing (cheap cycle-based simulation). Stages (cycles after a beat is
// accepted):
//   1. operands: input lanes and the weight-ROM word registered
//   2. products registered (MAC_IMPL "dsp": `*`; "lut": LUT-6 digit tables, hw/rtl/lut_mult.sv)
//   3. accumulator (cleared by the window's first beat); threshold-ROM word registered beside it
//   4. threshold compares registered (NSTEPS > 0), or the accumulator again (NSTEPS = 0)
//      -> count + ACT_VAL (or the accumulator) written into the output FIFO; valid on m_axis the
//      next cycle.
// Output beat g is valid 5 cycles after the window's last beat is accepted. Fixed latency without
// stalls, first input beat of a window (handshake cycle) to its output beat: KERNEL + 4 cycles
// (tsmfpga.hw.ops.vvau.vvau_latency).
//
// MAC_IMPL "dsp": products as `*` with use_dsp = "yes" (one DSP48E1 per product when yosys' size
// rule maps it); "lut": hw/rtl/lut_mult.sv (LUT-6 tables of digit products and an adder), never a
// DSP. Simulation is identical.
// RAM_STYLE "block" | "distributed": the weight ROM's rom_style attribute (yosys estimates define
// TSMFPGA_YOSYS and get "logic" for distributed, as in mvau.sv). Any other value is an
// elaboration error.

`default_nettype none

module vvau #(
    parameter integer CHANNELS = 8,        // channels per pixel; PE must divide it
    parameter integer PE = 2,              // channels (lanes) per beat, = the SWG's SIMD
    parameter integer KERNEL = 9,          // window positions K_H*K_W (beats per output beat)
    parameter integer IN_BITS = 4,         // bits per input lane
    parameter integer IN_SIGNED = 0,       // 1: inputs are two's complement, 0: unsigned
    parameter integer W_BITS = 4,          // bits per weight
    parameter integer W_SIGNED = 1,        // 1: weights are two's complement, 0: unsigned
    parameter integer ACC_BITS = IN_BITS + W_BITS + $clog2(KERNEL) + 2,  // accumulator width (signed)
    parameter integer NSTEPS = 15,         // thresholds per channel; 0 = no activation (out = acc)
    parameter integer T_BITS = ACC_BITS,   // threshold word width, two's complement
    parameter integer ACT_VAL = 0,         // added to the threshold count (may be negative)
    parameter integer OUT_BITS = 4,        // bits per output lane
    parameter WEIGHT_FILE = "vvau_weights.hex",     // $readmemh file of the weight ROM
    parameter THRESH_FILE = "vvau_thresholds.hex",  // $readmemh file of the threshold ROM
    parameter MAC_IMPL = "lut",            // "lut" or "dsp"
    parameter [8*11-1:0] RAM_STYLE = "block"  // weight ROM: "block" (BRAM) or "distributed" (LUTRAM)
) (
    input  wire                      clk,
    input  wire                      rst,  // synchronous, active high

    input  wire [PE*IN_BITS-1:0]     s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,

    output wire [PE*OUT_BITS-1:0]    m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready
);

    localparam integer NF = CHANNELS / PE;              // output beats per pixel
    localparam integer W_WORD = PE * W_BITS;
    localparam integer W_DEPTH = NF * KERNEL;
    localparam integer K_W = (KERNEL > 1) ? $clog2(KERNEL) : 1;
    localparam integer NF_W = (NF > 1) ? $clog2(NF) : 1;
    localparam integer WA_W = (W_DEPTH > 1) ? $clog2(W_DEPTH) : 1;
    localparam integer LAST_K_I = KERNEL - 1;
    localparam integer LAST_NF_I = NF - 1;
    localparam integer LAST_WA_I = W_DEPTH - 1;
    localparam [K_W-1:0] LAST_K = LAST_K_I[K_W-1:0];
    localparam [NF_W-1:0] LAST_NF = LAST_NF_I[NF_W-1:0];
    localparam [WA_W-1:0] LAST_WA = LAST_WA_I[WA_W-1:0];
    // product width: LUT MACs the exact product in two's complement (IN_BITS + W_BITS, one more
    // when both are unsigned); a DSP product keeps two spare bits (free inside the DSP, and what
    // makes yosys' size rule map it to one: products under 9 bits stay in LUTs there)
    localparam integer PROD_BITS = IN_BITS + W_BITS + ((MAC_IMPL == "dsp") ? 2 :
                                   (IN_SIGNED != 0 || W_SIGNED != 0) ? 0 : 1);
    localparam integer C_CMP = 4;                       // stage of the compares / FIFO write
    localparam integer OF_AW = $clog2(C_CMP + 4);
    localparam integer OFIFO_DEPTH = 1 << OF_AW;
    localparam integer OUT_W = PE * OUT_BITS;
    localparam integer T_WORD = (NSTEPS > 0) ? PE * NSTEPS * T_BITS : 1;
    localparam integer CMP_BITS = ((ACC_BITS > T_BITS) ? ACC_BITS : T_BITS) + 1;
    localparam integer CNT_W = $clog2(NSTEPS + 1) + 1;
    localparam integer SUM_W = (NSTEPS > 0) ? ((CNT_W > OUT_BITS) ? CNT_W : OUT_BITS) + 1 : 2;
    localparam [SUM_W-1:0] ACT_S = ACT_VAL[SUM_W-1:0];
    localparam integer NCMP = (NSTEPS > 0) ? NSTEPS : 1;

    // ------------------------------------------------------------------ stage 0: accept
    reg [K_W-1:0]  kpos;          // window position of the next beat
    reg [NF_W-1:0] grp;           // channel group of the next beat
    reg [WA_W-1:0] waddr;         // = grp*KERNEL + kpos
    reg [OF_AW:0]  credits_used;  // windows finished or in flight, not yet taken from m_axis

    wire last_k = (kpos == LAST_K);
    wire can_accept = !last_k || (credits_used != OFIFO_DEPTH[OF_AW:0]);
    wire fire = can_accept && s_axis_tvalid;

    assign s_axis_tready = can_accept;

    // control delay line: entry d holds the beat accepted d cycles ago
    reg             dv    [1:C_CMP];  // valid
    reg             dfirst[1:C_CMP];  // k = 0
    reg             dlast [1:C_CMP];  // k = KERNEL-1
    reg [NF_W-1:0]  dgrp  [1:C_CMP];

    integer d;
    always @(posedge clk) begin
        dv[1] <= fire && !rst;
        dfirst[1] <= (kpos == {K_W{1'b0}});
        dlast[1] <= last_k;
        dgrp[1] <= grp;
        for (d = 2; d <= C_CMP; d = d + 1) begin
            dv[d] <= dv[d-1] && !rst;
            dfirst[d] <= dfirst[d-1];
            dlast[d] <= dlast[d-1];
            dgrp[d] <= dgrp[d-1];
        end
    end

    // ------------------------------------------------------------------ stage 1: operands
    reg [PE*IN_BITS-1:0] x1;
    reg [W_WORD-1:0]     w1;

    always @(posedge clk) begin
        if (fire) x1 <= s_axis_tdata;  // loads with a beat only: idle cycles cost a simulator nothing
    end

    generate
        if (RAM_STYLE == "distributed") begin : g_wrom_lut
`ifdef TSMFPGA_YOSYS
            (* rom_style = "logic" *)
`else
            (* rom_style = "distributed" *)
`endif
            reg [W_WORD-1:0] wmem [0:W_DEPTH-1];
            initial begin
                $readmemh(WEIGHT_FILE, wmem);
            end
            wire [W_WORD-1:0] wrd = wmem[waddr];
            always @(posedge clk) begin
                if (fire) w1 <= wrd;
            end
        end else if (RAM_STYLE == "block") begin : g_wrom_bram
            (* rom_style = "block", ram_style = "block" *)
            reg [W_WORD-1:0] wmem [0:W_DEPTH-1];
            initial begin
                $readmemh(WEIGHT_FILE, wmem);
            end
            always @(posedge clk) begin
                if (fire) w1 <= wmem[waddr];
            end
        end else begin : g_bad_ram_style
            // RAM_STYLE must be "block" or "distributed": no such module exists, so elaboration stops
            vvau_RAM_STYLE_must_be_block_or_distributed u_bad ();
        end
    endgenerate

    // ------------------------------------------------------------------ threshold ROM
    // word of the group whose accumulator is finished at stage 3, registered beside it
    wire [T_WORD-1:0] tq;

    generate
        if (NSTEPS > 0) begin : g_tmem
            reg [T_WORD-1:0] tmem [0:NF-1];
            initial begin
                $readmemh(THRESH_FILE, tmem);
            end
            reg [T_WORD-1:0] tq_r;
            always @(posedge clk) begin
                if (dv[2] && dlast[2]) begin  // only a window's last beat reaches the output FIFO
                    tq_r <= tmem[dgrp[2]];
                end
            end
            assign tq = tq_r;
        end else begin : g_no_tmem
            assign tq = {T_WORD{1'b0}};
            wire unused_thr = ^{tq};  // no activation: no thresholds
        end
    endgenerate

    // ------------------------------------------------------------------ per lane: stages 2..4
    wire [OUT_W-1:0] act;

    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire [IN_BITS-1:0] xa = x1[p*IN_BITS +: IN_BITS];
            wire [W_BITS-1:0]  wa = w1[p*W_BITS +: W_BITS];
            // stage 2: product (hw/rtl/mac_lane.sv: DSP `*` or LUT-6 digit tables)
            wire [PROD_BITS-1:0] prod;
            mac_lane #(.IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .W_BITS(W_BITS), .W_SIGNED(W_SIGNED),
                       .MAC_IMPL(MAC_IMPL), .PROD_BITS(PROD_BITS)) u_mac (
                .clk(clk), .op_en(1'b0), .prod_en(dv[1]), .x(xa), .w(wa), .p(prod));

            // stage 3: accumulator (ACC_BITS, wrap-around)
            wire [ACC_BITS-1:0] prod_x;
            if (ACC_BITS > PROD_BITS) begin : g_ext
                assign prod_x = {{(ACC_BITS-PROD_BITS){prod[PROD_BITS-1]}}, prod};
            end else begin : g_cut
                assign prod_x = prod[ACC_BITS-1:0];
                if (ACC_BITS < PROD_BITS) begin : g_unused
                    wire unused_hi = ^prod[PROD_BITS-1:ACC_BITS];
                end
            end
            reg [ACC_BITS-1:0] acc;
            always @(posedge clk) begin
                if (dv[2]) begin
                    acc <= (dfirst[2] ? {ACC_BITS{1'b0}} : acc) + prod_x;
                end
            end

            if (NSTEPS > 0) begin : g_act
                // stage 4: compares acc >= T[c, t]
                wire [CMP_BITS-1:0] acc_c = {{(CMP_BITS-ACC_BITS){acc[ACC_BITS-1]}}, acc};
                reg [NCMP-1:0] ge;
                integer k;
                always @(posedge clk) begin
                    if (dv[3] && dlast[3]) begin  // the finished accumulator only (see tq_r)
                        for (k = 0; k < NSTEPS; k = k + 1) begin
                            ge[k] <= $signed(acc_c) >= $signed({{(CMP_BITS-T_BITS){tq[(p*NSTEPS+k+1)*T_BITS-1]}},
                                                                 tq[(p*NSTEPS+k)*T_BITS +: T_BITS]});
                        end
                    end
                end
                reg [CNT_W-1:0] cnt;
                always @(*) begin
                    cnt = {CNT_W{1'b0}};
                    for (k = 0; k < NSTEPS; k = k + 1) begin
                        cnt = cnt + {{(CNT_W-1){1'b0}}, ge[k]};
                    end
                end
                /* verilator lint_off UNUSEDSIGNAL */
                wire [SUM_W-1:0] res = {{(SUM_W-CNT_W){1'b0}}, cnt} + ACT_S;  // low OUT_BITS used
                /* verilator lint_on UNUSEDSIGNAL */
                assign act[p*OUT_BITS +: OUT_BITS] = res[OUT_BITS-1:0];
            end else begin : g_noact
                // stage 4: the accumulator again (same latency as with an activation)
                reg [ACC_BITS-1:0] acc_q;
                always @(posedge clk) begin
                    acc_q <= acc;
                end
                if (OUT_BITS > ACC_BITS) begin : g_acc_ext
                    assign act[p*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-ACC_BITS){acc_q[ACC_BITS-1]}}, acc_q};
                end else begin : g_acc_trunc
                    assign act[p*OUT_BITS +: OUT_BITS] = acc_q[OUT_BITS-1:0];
                    if (OUT_BITS < ACC_BITS) begin : g_unused
                        wire unused_acc = ^acc_q[ACC_BITS-1:OUT_BITS];
                    end
                end
            end
        end
    endgenerate

    // ------------------------------------------------------------------ output FIFO
    reg [OUT_W-1:0] ofifo [0:OFIFO_DEPTH-1];
    reg [OF_AW:0] wptr, rptr;
    reg ovalid;   // wptr != rptr, as a register: m_axis_tvalid straight from a flip-flop
    wire wr = dv[C_CMP] && dlast[C_CMP];
    wire rd = m_axis_tvalid && m_axis_tready;
    wire [OF_AW:0] wptr_next = wptr + {{OF_AW{1'b0}}, wr};
    wire [OF_AW:0] rptr_next = rptr + {{OF_AW{1'b0}}, rd};

    assign m_axis_tvalid = ovalid;
    assign m_axis_tdata = ofifo[rptr[OF_AW-1:0]];

    always @(posedge clk) begin
        if (wr) begin
            ofifo[wptr[OF_AW-1:0]] <= act;
        end
    end

    // ------------------------------------------------------------------ control
    always @(posedge clk) begin
        if (rst) begin
            kpos <= {K_W{1'b0}};
            grp <= {NF_W{1'b0}};
            waddr <= {WA_W{1'b0}};
            wptr <= {(OF_AW+1){1'b0}};
            rptr <= {(OF_AW+1){1'b0}};
            ovalid <= 1'b0;
            credits_used <= {(OF_AW+1){1'b0}};
        end else begin
            if (fire) begin
                waddr <= (waddr == LAST_WA) ? {WA_W{1'b0}} : waddr + 1'b1;
                if (last_k) begin
                    kpos <= {K_W{1'b0}};
                    grp <= (grp == LAST_NF) ? {NF_W{1'b0}} : grp + 1'b1;
                end else begin
                    kpos <= kpos + 1'b1;
                end
            end
            wptr <= wptr_next;
            rptr <= rptr_next;
            ovalid <= wptr_next != rptr_next;
            case ({fire && last_k, rd})
                2'b10: credits_used <= credits_used + 1'b1;
                2'b01: credits_used <= credits_used - 1'b1;
                default: ;
            endcase
        end
    end

endmodule

`default_nettype wire
