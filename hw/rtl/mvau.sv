// mvau: streaming matrix-vector-activation unit (FINN MVAU semantics).
//
// RTL counterpart of finn-plus' MVAU (MatrixVectorActivation): for every input vector x of MW
// elements it computes acc[ch] = sum_k x[k] * W[k, ch] for the MH output channels ch, then either
// outputs acc (NSTEPS = 0, FINN's noActivation) or the multi-threshold activation
// (number of t with acc >= T[ch, t]) + ACT_VAL. With BINARY_XNOR = 1, x and W are 1-bit bipolar
// codes (1 = +1, 0 = -1) and acc is the popcount of XNOR(x, W) over MW (FINN's binaryXnorMode,
// range 0..MW).
//
// Folding: SF = MW/SIMD input beats per vector, NF = MH/PE output beats per vector. Input lane s of
// beat sf is x[sf*SIMD+s] at s_axis_tdata[s*IN_BITS +: IN_BITS]; output lane p of beat nf is
// channel nf*PE+p at m_axis_tdata[p*OUT_BITS +: OUT_BITS]. Like FINN's MVAU the vector is read from
// the stream once, during nf = 0, and kept in an input buffer of SF words for nf = 1..NF-1, so the
// stream carries each vector exactly once (s_axis_tready is low while nf > 0).
//
// Memories (hex files, one word per line, read with $readmemh in an initial block):
//   WEIGHT_FILE: NF*SF words of PE*SIMD*W_BITS bits, word nf*SF+sf; lane (p,s) at
//     [(p*SIMD+s)*W_BITS +: W_BITS] holds W[sf*SIMD+s, nf*PE+p] (two's complement if W_SIGNED).
//   THRESH_FILE (NSTEPS > 0 only): NF words of PE*NSTEPS*T_BITS bits; lane (p,t) at
//     [(p*NSTEPS+t)*T_BITS +: T_BITS] holds T[nf*PE+p, t] (two's complement).
//
// Arithmetic: inputs and weights are extended by one bit (sign bit per IN_SIGNED / W_SIGNED) and
// multiplied as signed numbers, so e.g. unsigned 8-bit inputs times signed weights are exact. The
// accumulator is ACC_BITS wide (wrap-around adds, exact whenever the final sum fits, which the
// generator guarantees); it is two's complement when (IN_SIGNED or W_SIGNED) and not BINARY_XNOR,
// unsigned otherwise. Thresholds are compared with >= against the accumulator in a width that
// holds both, NSTEPS comparators per PE in parallel. With NSTEPS = 0 the output lane is the
// accumulator sign- (signed acc) or zero-extended, or truncated, to OUT_BITS.
//
// Timing: one (nf, sf) step per clock, initiation interval NF*SF cycles per vector when the input
// is available and the output not blocked. Four pipeline stages, all advancing together on
// en = !m_axis_tvalid || m_axis_tready (a full stall when the output register is blocked, so
// s_axis_tready depends combinationally on m_axis_tready):
//   1. operands: input beat (or input-buffer word) and weight-ROM word registered
//   2. products: PE*SIMD registered products (the DSP M register)
//   3. accumulate: per-PE adder tree over SIMD + accumulator; threshold-ROM word registered
//   4. activation: threshold compare / count + ACT_VAL into the output register
// Output beat nf is valid 4 cycles after step (nf, SF-1) is issued. Fixed latency without stalls,
// first input beat of a vector (handshake cycle) to its first output beat: SF + 3 cycles.
//
// MAC_IMPL "dsp": the products are `*` with use_dsp = "yes" (one product per DSP48E1, measured
// with yosys); "lut": shift-and-add partial products in LUTs and carry chains (no DSP)
// (simulation is identical); it is ignored with BINARY_XNOR = 1 (no multipliers).
//
// RAM_STYLE "block": the weight ROM carries (* rom_style = "block" *) (block RAM, read through
// its output register); "distributed": (* rom_style = "distributed" *) (LUTs, read asynchronously
// into the same output register in flip-flops; with TSMFPGA_YOSYS defined, as our yosys estimates
// do, rom_style = "logic", since yosys synth_xilinx maps no ROM to LUT RAM). Vivado and yosys
// follow the attribute; simulation is identical. Any other value is an elaboration error.

`default_nettype none

module mvau #(
    parameter integer MW = 8,              // matrix width: input vector length; SIMD must divide it
    parameter integer MH = 4,              // matrix height: output channels; PE must divide it
    parameter integer SIMD = 2,            // input elements per input beat
    parameter integer PE = 2,              // output channels per output beat
    parameter integer IN_BITS = 4,         // bits per input element (1 with BINARY_XNOR)
    parameter integer IN_SIGNED = 0,       // 1: inputs are two's complement, 0: unsigned
    parameter integer W_BITS = 4,          // bits per weight (1 with BINARY_XNOR)
    parameter integer W_SIGNED = 1,        // 1: weights are two's complement, 0: unsigned
    parameter integer BINARY_XNOR = 0,     // 1: bipolar 1-bit codes, acc = popcount(XNOR) (0..MW)
    parameter integer ACC_BITS = IN_BITS + W_BITS + $clog2(MW) + 1,  // accumulator width (exact range)
    parameter integer NSTEPS = 3,          // thresholds per channel; 0 = no activation (out = acc)
    parameter integer T_BITS = ACC_BITS + 1,  // threshold word width, two's complement
    parameter integer ACT_VAL = 0,         // added to the threshold count (may be negative)
    parameter integer OUT_BITS = 2,        // bits per output lane (= ACC_BITS when NSTEPS = 0)
    parameter WEIGHT_FILE = "mvau_weights.hex",     // $readmemh file of the weight ROM
    parameter THRESH_FILE = "mvau_thresholds.hex",  // $readmemh file of the threshold ROM
    parameter MAC_IMPL = "lut",            // "lut" or "dsp": use_dsp attribute on the products
    parameter [8*11-1:0] RAM_STYLE = "block"  // weight ROM: "block" (BRAM) or "distributed" (LUTRAM)
) (
    input  wire                      clk,
    input  wire                      rst,  // synchronous, active high

    input  wire [SIMD*IN_BITS-1:0]   s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,

    output wire [PE*OUT_BITS-1:0]    m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready
);

    localparam integer SF = MW / SIMD;                  // input beats per vector
    localparam integer NF = MH / PE;                    // output beats per vector
    localparam integer IN_W = SIMD * IN_BITS;
    localparam integer W_WORD = PE * SIMD * W_BITS;
    localparam integer W_DEPTH = NF * SF;
    localparam integer SF_W = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NF_W = (NF > 1) ? $clog2(NF) : 1;
    localparam integer WA_W = (W_DEPTH > 1) ? $clog2(W_DEPTH) : 1;
    localparam integer LAST_SF_I = SF - 1;
    localparam integer LAST_NF_I = NF - 1;
    localparam integer LAST_WA_I = W_DEPTH - 1;
    localparam [SF_W-1:0] LAST_SF = LAST_SF_I[SF_W-1:0];
    localparam [NF_W-1:0] LAST_NF = LAST_NF_I[NF_W-1:0];
    localparam [WA_W-1:0] LAST_WA = LAST_WA_I[WA_W-1:0];
    localparam integer ACC_SIGNED = (BINARY_XNOR == 0 && (IN_SIGNED != 0 || W_SIGNED != 0)) ? 1 : 0;
    localparam integer PROD_BITS = (BINARY_XNOR != 0) ? 1 : IN_BITS + W_BITS + 2;
    localparam integer PROD_SIGNED = (BINARY_XNOR != 0) ? 0 : 1;
    localparam integer P2 = (SIMD > 1) ? (1 << $clog2(SIMD)) : 1;  // adder-tree leaves
    // activation (NSTEPS > 0)
    localparam integer T_WORD = (NSTEPS > 0) ? PE * NSTEPS * T_BITS : 1;
    localparam integer CMP_BITS = ((ACC_BITS > T_BITS) ? ACC_BITS : T_BITS) + 1;
    localparam integer CNT_W = $clog2(NSTEPS + 1) + 1;
    localparam integer SUM_W = (NSTEPS > 0) ? ((CNT_W > OUT_BITS) ? CNT_W : OUT_BITS) + 1 : 2;
    localparam [SUM_W-1:0] ACT_S = ACT_VAL[SUM_W-1:0];

    // ------------------------------------------------------------------ memories
    reg [IN_W-1:0] ibuf [0:SF-1];  // input vector buffer, written during nf = 0

    // ------------------------------------------------------------------ stage 0: step issue
    reg [SF_W-1:0] sf;
    reg [NF_W-1:0] nf;
    reg [WA_W-1:0] waddr;  // = nf*SF + sf

    reg v1, v2, v3;        // stage valids
    reg out_valid;
    reg [PE*OUT_BITS-1:0] out_data;

    wire en = !out_valid || m_axis_tready;    // the whole pipeline advances
    wire nf0 = (nf == {NF_W{1'b0}});          // this step reads the stream
    wire fire = en && (s_axis_tvalid || !nf0);

    assign s_axis_tready = en && nf0;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tdata = out_data;

    // ------------------------------------------------------------------ stage 1: operands
    reg [IN_W-1:0]   x1;
    reg [W_WORD-1:0] w1;
    reg              first1, last1;
    reg [NF_W-1:0]   nf1;

    always @(posedge clk) begin
        if (fire) begin
            if (nf0) begin
                ibuf[sf] <= s_axis_tdata;
            end
            x1 <= nf0 ? s_axis_tdata : ibuf[sf];
            first1 <= (sf == {SF_W{1'b0}});
            last1 <= (sf == LAST_SF);
            nf1 <= nf;
        end
    end

    // weight ROM, read into w1 together with the stage-1 operands; one declaration per RAM_STYLE
    // so that the synthesis attribute is a constant
    generate
        if (RAM_STYLE == "distributed") begin : g_wrom_lut
            // asynchronous ROM read (LUTs) into the w1 register. yosys synth_xilinx has no LUT-RAM
            // mapping for a ROM (a forced "distributed" ROM is an error): our yosys estimates define
            // TSMFPGA_YOSYS and get "logic", which is what a distributed ROM is (LUTs)
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
                if (fire) begin
                    w1 <= wrd;
                end
            end
        end else if (RAM_STYLE == "block") begin : g_wrom_bram
            (* rom_style = "block", ram_style = "block" *)
            reg [W_WORD-1:0] wmem [0:W_DEPTH-1];
            initial begin
                $readmemh(WEIGHT_FILE, wmem);
            end
            always @(posedge clk) begin
                if (fire) begin
                    w1 <= wmem[waddr];
                end
            end
        end else begin : g_bad_ram_style
            // RAM_STYLE must be "block" or "distributed": no such module exists, so elaboration stops
            mvau_RAM_STYLE_must_be_block_or_distributed u_bad ();
        end
    endgenerate

    // ------------------------------------------------------------------ stage 2: products
    reg            first2, last2;
    reg [NF_W-1:0] nf2;

    always @(posedge clk) begin
        if (en) begin
            first2 <= first1;
            last2 <= last1;
            nf2 <= nf1;
        end
    end

    // ------------------------------------------------------------------ threshold ROM
    // word of the channels in stage 2, registered together with their accumulators (stage 3)
    wire [T_WORD-1:0] tq;

    generate
        if (NSTEPS > 0) begin : g_tmem
            reg [T_WORD-1:0] tmem [0:NF-1];
            initial begin
                $readmemh(THRESH_FILE, tmem);
            end

            reg [T_WORD-1:0] tq_r;
            always @(posedge clk) begin
                if (en) begin
                    tq_r <= tmem[nf2];
                end
            end
            assign tq = tq_r;
        end else begin : g_no_tmem
            assign tq = {T_WORD{1'b0}};
            wire unused_thr = ^{nf2, tq};  // no activation: the channel index is not needed
        end
    endgenerate

    // ------------------------------------------------------------------ per PE: stages 2..4
    wire [PE*OUT_BITS-1:0] act;  // stage-4 results, registered into out_data

    // signed product a * b as partial products (two's complement: the sign bit of b weighs
    // -2**W_BITS); used by the LUT MAC so that the multiply stays in LUTs and carry chains
    localparam integer MUL_BITS = IN_BITS + W_BITS + 2;  // = PROD_BITS outside XNOR mode
    function automatic signed [MUL_BITS-1:0] lut_mul(input signed [IN_BITS:0] a, input signed [W_BITS:0] b);
        integer i;
        reg signed [MUL_BITS-1:0] acc;
        reg signed [MUL_BITS-1:0] ax;
        begin
            ax = {{(W_BITS + 1){a[IN_BITS]}}, a};
            acc = 0;
            for (i = 0; i < W_BITS; i = i + 1)
                if (b[i]) acc = acc + (ax <<< i);
            if (b[W_BITS]) acc = acc - (ax <<< W_BITS);
            lut_mul = acc;
        end
    endfunction

    genvar p, s;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            // stage 2: the SIMD products of this PE, one register
            wire [SIMD*PROD_BITS-1:0] prod;
            reg  [SIMD*PROD_BITS-1:0] prod_q;

            for (s = 0; s < SIMD; s = s + 1) begin : g_lane
                wire [IN_BITS-1:0] xa = x1[s*IN_BITS +: IN_BITS];
                wire [W_BITS-1:0]  wa = w1[(p*SIMD+s)*W_BITS +: W_BITS];

                if (BINARY_XNOR != 0) begin : g_xnor
                    assign prod[s*PROD_BITS +: PROD_BITS] = ~(xa[0] ^ wa[0]);
                    wire unused_ops = ^{xa, wa};  // IN_BITS = W_BITS = 1 expected
                end else begin : g_mul
                    wire signed [IN_BITS:0] xs = {(IN_SIGNED != 0) && xa[IN_BITS-1], xa};
                    wire signed [W_BITS:0]  ws = {(W_SIGNED != 0) && wa[W_BITS-1], wa};
                    if (MAC_IMPL == "dsp") begin : g_dsp
                        (* use_dsp = "yes" *) wire signed [PROD_BITS-1:0] m;
                        assign m = xs * ws;
                        assign prod[s*PROD_BITS +: PROD_BITS] = m;
                    end else begin : g_lut
                        // shift-and-add partial products: plain logic that no synthesis tool
                        // turns into a DSP slice (yosys ignores use_dsp = "no" on a `*`)
                        (* use_dsp = "no" *) wire signed [PROD_BITS-1:0] m;
                        assign m = lut_mul(xs, ws);
                        assign prod[s*PROD_BITS +: PROD_BITS] = m;
                    end
                end
            end

            always @(posedge clk) begin
                if (en) begin
                    prod_q <= prod;
                end
            end

            // stage 3: balanced adder tree over the products (heap layout: node i = node 2i +
            // node 2i+1, leaves P2..2*P2-1, zero padded; root = node 1), ACC_BITS wrap-around
            reg [2*P2*ACC_BITS-1:ACC_BITS] tree;
            reg [PROD_BITS-1:0] pr;
            /* verilator lint_off UNUSEDSIGNAL */
            reg [ACC_BITS+PROD_BITS-1:0] pr_ext;  // only the low ACC_BITS are used
            /* verilator lint_on UNUSEDSIGNAL */
            integer i;
            always @(*) begin
                tree = {(2*P2-1)*ACC_BITS{1'b0}};
                for (i = 0; i < SIMD; i = i + 1) begin
                    pr = prod_q[i*PROD_BITS +: PROD_BITS];
                    pr_ext = {{ACC_BITS{(PROD_SIGNED != 0) && pr[PROD_BITS-1]}}, pr};
                    tree[(P2+i)*ACC_BITS +: ACC_BITS] = pr_ext[ACC_BITS-1:0];
                end
                for (i = P2 - 1; i >= 1; i = i - 1) begin
                    tree[i*ACC_BITS +: ACC_BITS] =
                        tree[2*i*ACC_BITS +: ACC_BITS] + tree[(2*i+1)*ACC_BITS +: ACC_BITS];
                end
            end

            reg [ACC_BITS-1:0] acc;
            always @(posedge clk) begin
                if (en && v2) begin
                    acc <= (first2 ? {ACC_BITS{1'b0}} : acc) + tree[ACC_BITS +: ACC_BITS];
                end
            end

            // stage 4 (combinational part): activation of the finished accumulator
            wire acc_ext = (ACC_SIGNED != 0) && acc[ACC_BITS-1];

            if (NSTEPS > 0) begin : g_act
                // count of thresholds t with acc >= T[ch, t], compared in CMP_BITS two's complement
                wire [CMP_BITS-1:0] acc_c = {{(CMP_BITS-ACC_BITS){acc_ext}}, acc};
                reg [T_BITS-1:0]   th;
                reg [CMP_BITS-1:0] th_c;
                reg [CNT_W-1:0]    cnt;
                integer k;
                always @(*) begin
                    cnt = {CNT_W{1'b0}};
                    for (k = 0; k < NSTEPS; k = k + 1) begin
                        th = tq[(p*NSTEPS+k)*T_BITS +: T_BITS];
                        th_c = {{(CMP_BITS-T_BITS){th[T_BITS-1]}}, th};
                        if ($signed(acc_c) >= $signed(th_c)) begin
                            cnt = cnt + {{(CNT_W-1){1'b0}}, 1'b1};
                        end
                    end
                end

                /* verilator lint_off UNUSEDSIGNAL */
                wire [SUM_W-1:0] res = {{(SUM_W-CNT_W){1'b0}}, cnt} + ACT_S;  // low OUT_BITS used
                /* verilator lint_on UNUSEDSIGNAL */
                assign act[p*OUT_BITS +: OUT_BITS] = res[OUT_BITS-1:0];
            end else if (OUT_BITS > ACC_BITS) begin : g_acc_ext
                assign act[p*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-ACC_BITS){acc_ext}}, acc};
            end else begin : g_acc_trunc
                assign act[p*OUT_BITS +: OUT_BITS] = acc[OUT_BITS-1:0];
                wire unused_acc = ^{acc_ext, acc};  // bits above OUT_BITS (none if equal)
            end
        end
    endgenerate

    // ------------------------------------------------------------------ stage 4: output register
    always @(posedge clk) begin
        if (en && v3) begin
            out_data <= act;
        end
    end

    // ------------------------------------------------------------------ control
    always @(posedge clk) begin
        if (rst) begin
            sf <= {SF_W{1'b0}};
            nf <= {NF_W{1'b0}};
            waddr <= {WA_W{1'b0}};
            v1 <= 1'b0;
            v2 <= 1'b0;
            v3 <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            if (en) begin
                v1 <= fire;
                v2 <= v1;
                v3 <= v2 && last2;
                out_valid <= v3;
            end
            if (fire) begin
                waddr <= (waddr == LAST_WA) ? {WA_W{1'b0}} : waddr + 1'b1;
                if (sf == LAST_SF) begin
                    sf <= {SF_W{1'b0}};
                    nf <= (nf == LAST_NF) ? {NF_W{1'b0}} : nf + 1'b1;
                end else begin
                    sf <= sf + 1'b1;
                end
            end
        end
    end

endmodule

`default_nettype wire
