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
// is available and the output not blocked. The datapath is a free-running pipeline (no stall
// enable: no high-fanout enable net and no combinational path from m_axis_tready to
// s_axis_tready); backpressure is handled by credits: a step that completes an output beat
// (sf = SF-1) issues only while the beats in flight plus the beats waiting in the output FIFO
// are fewer than the FIFO's OFIFO_DEPTH entries, so the FIFO never overflows. Each stage register
// loads only when its stage receives a step (its dv bit; threshold word and compares: only the
// step that completes an output beat), a local clock enable, not a stall: idle cycles change
// nothing, which keeps a cycle-based simulation of a large design cheap. Stages (cycles
// after a step is issued):
//   1. operands: input beat (or input-buffer word) and weight-ROM word registered
//   2. operands again (a block-RAM weight ROM is read through its own output register; this
//      stage keeps the RAM's clock-to-out off the multiplier paths)
//   (MAC_IMPL "dsp": operands registered once more, one copy per multiplier: DSP_STAGE)
//   3. products registered (a DSP's own register, or the LUT MAC's table reads and adder)
//   4. products registered again (the tree's leaves)
//   (with MAC_IMPL "dsp" every stage from here on is one cycle later)
//   5 .. 4+TS. adder tree over the SIMD products (hw/rtl/adder_tree.sv: each level one bit wider
//      than the one below, a register after every second level; TS = ceil(log2(SIMD)/2)
//      stages, 0 for SIMD = 1)
//   5+TS. accumulator; threshold-ROM word (read two cycles earlier) registered beside it
//   6+TS. threshold compares registered (NSTEPS > 0), or the accumulator again (NSTEPS = 0)
//   7+TS. count + ACT_VAL (or the accumulator) written into the output FIFO; the beat is valid
//      on m_axis the next cycle.
// Output beat nf is valid 7+TS cycles after step (nf, SF-1) is issued. Fixed latency without
// stalls, first input beat of a vector (handshake cycle) to its first output beat: SF + 6 + TS
// cycles, + 1 with DSP products (tsmfpga.hw.ops.mvau.mvau_latency).
//
// MAC_IMPL "dsp": the products are `*` with use_dsp = "yes" (one product per DSP48E1, measured
// with yosys); "lut": hw/rtl/lut_mult.sv, the wider operand cut into digits whose products with
// the other operand are LUT-6 table reads, summed in a carry chain (no DSP; 4 x 4 bits: two
// 6-input tables and one adder, 2 x 2 bits: one table) (simulation is identical); it is
// ignored with BINARY_XNOR = 1 (no multipliers).
//
// DSP_LANES = N > 1 (MAC_IMPL "dsp", unsigned inputs only): dot-product packing, one multiplier
// computes the sum of N products of one PE (N neighbouring SIMD lanes). With the weights in offset
// binary u = w + 2**(W_BITS-1) (the sign bit inverted; u = w for unsigned weights), all unsigned,
// and S = IN_BITS + W_BITS + clog2(N) bits per field,
//   Xp = sum_i x_i * 2**((N-1-i)*S)      Up = sum_i u_i * 2**(i*S)      (plain concatenations)
//   Xp * Up = sum_{i,j} x_i u_j 2**((N-1-i+j)*S)
// and field N-1 of the product is exactly sum_i x_i u_i: its terms i = j are < N * 2**(S-clog2(N)),
// the fields below hold at most N-1 products each and never carry into it. The adder tree then
// has ceil(SIMD/N) leaves per PE, and the accumulator subtracts 2**(W_BITS-1) * sum_i x_i (one
// SIMD-wide sum shared by all PEs, pipelined beside the products) for signed weights. No
// correction per product, no sign handling between fields, the weight ROM is unchanged. The
// backend picks N so that both packed operands fit 18-bit signed multiplier ports (DSP48E1/E2
// and ECP5 MULT18X18D alike): tsmfpga.hw.ops.mvau.mvau_dsp_lanes.
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
    parameter integer DSP_LANES = 1,       // MAC_IMPL "dsp": SIMD lanes summed per multiplier (packing)
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
    // dot-product packing: LANES SIMD lanes per multiplier, NG products (tree leaves) per PE
    localparam integer LANES = (MAC_IMPL == "dsp" && BINARY_XNOR == 0) ? DSP_LANES : 1;
    localparam integer NG = (SIMD + LANES - 1) / LANES;
    localparam integer PK_S = IN_BITS + W_BITS + $clog2(LANES);  // packed field width
    // product width: LUT MACs the exact product in two's complement (IN_BITS + W_BITS, one more
    // when both are unsigned); a DSP product keeps two spare bits (free inside the DSP, and what
    // makes yosys' size rule map it to one: products under 9 bits stay in LUTs there)
    localparam integer MUL_BITS = IN_BITS + W_BITS + ((MAC_IMPL == "dsp") ? 2 :
                                  (IN_SIGNED != 0 || W_SIGNED != 0) ? 0 : 1);
    localparam integer PROD_BITS = (BINARY_XNOR != 0) ? 1 : (LANES > 1) ? PK_S : MUL_BITS;
    localparam integer PROD_SIGNED = (BINARY_XNOR != 0 || LANES > 1) ? 0 : 1;
    localparam integer XCORR = (LANES > 1 && W_SIGNED != 0) ? 1 : 0;  // subtract 2**(W-1)*sum(x)
    localparam integer TL = (NG > 1) ? $clog2(NG) : 0;      // adder-tree levels
    localparam integer TS = (TL + 1) / 2;                   // adder-tree register stages
    // cycle (after issue) at which each stage's register holds a step
    // DSP products get one more stage: their operands registered again, one copy per multiplier,
    // so the placer can put that register beside its DSP block (the fabric -> DSP and DSP ->
    // fabric routes are then a register-to-DSP-to-register path of their own; 60 MHz on an
    // ECP5 with 109 MULT18X18D spread over the columns without it)
    localparam integer DSP_STAGE = (MAC_IMPL == "dsp" && BINARY_XNOR == 0) ? 1 : 0;
    localparam integer C_PROD = 4 + DSP_STAGE;     // products
    localparam integer C_ACC = C_PROD + TS + 1;    // accumulator
    localparam integer C_CMP = C_ACC + 1;          // compares (or accumulator copy)
    localparam integer C_LAST = C_CMP;             // the control delay line's last entry
    // output FIFO: holds every beat that may be in flight (C_CMP + 1 cycles) plus slack
    localparam integer OF_AW = $clog2(C_CMP + 4);
    localparam integer OFIFO_DEPTH = 1 << OF_AW;
    localparam integer OUT_W = PE * OUT_BITS;
    // activation (NSTEPS > 0)
    localparam integer T_WORD = (NSTEPS > 0) ? PE * NSTEPS * T_BITS : 1;
    localparam integer CMP_BITS = ((ACC_BITS > T_BITS) ? ACC_BITS : T_BITS) + 1;
    localparam integer CNT_W = $clog2(NSTEPS + 1) + 1;
    localparam integer SUM_W = (NSTEPS > 0) ? ((CNT_W > OUT_BITS) ? CNT_W : OUT_BITS) + 1 : 2;
    localparam [SUM_W-1:0] ACT_S = ACT_VAL[SUM_W-1:0];
    localparam integer NCMP = (NSTEPS > 0) ? NSTEPS : 1;

    // ------------------------------------------------------------------ memories
    reg [IN_W-1:0] ibuf [0:SF-1];  // input vector buffer, written during nf = 0

    // ------------------------------------------------------------------ stage 0: step issue
    reg [SF_W-1:0] sf;
    reg [NF_W-1:0] nf;
    reg [WA_W-1:0] waddr;  // = nf*SF + sf
    reg [OF_AW:0]  credits_used;  // beats issued and not yet taken from m_axis

    wire last_step = (sf == LAST_SF);
    wire can_issue = !last_step || (credits_used != OFIFO_DEPTH[OF_AW:0]);
    wire nf0 = (nf == {NF_W{1'b0}});          // this step reads the stream
    wire fire = can_issue && (s_axis_tvalid || !nf0);

    assign s_axis_tready = can_issue && nf0;

    // control delay line: entry k holds the step issued k cycles ago
    reg             dv    [1:C_LAST];  // valid
    reg             dfirst[1:C_LAST];  // sf = 0
    reg             dlast [1:C_LAST];  // sf = SF-1
    reg [NF_W-1:0]  dnf   [1:C_LAST];

    integer d;
    always @(posedge clk) begin
        dv[1] <= fire && !rst;
        dfirst[1] <= (sf == {SF_W{1'b0}});
        dlast[1] <= last_step;
        dnf[1] <= nf;
        for (d = 2; d <= C_LAST; d = d + 1) begin
            dv[d] <= dv[d-1] && !rst;
            dfirst[d] <= dfirst[d-1];
            dlast[d] <= dlast[d-1];
            dnf[d] <= dnf[d-1];
        end
    end

    // ------------------------------------------------------------------ stages 1, 2: operands
    reg [IN_W-1:0]   x1, x2;
    reg [W_WORD-1:0] w1, w2;

    always @(posedge clk) begin
        if (fire && nf0) begin
            ibuf[sf] <= s_axis_tdata;
        end
        // operand registers load only with a step (fire / dv): idle cycles cost a simulator nothing
        if (fire) begin
            x1 <= nf0 ? s_axis_tdata : ibuf[sf];
        end
        if (dv[1]) begin
            x2 <= x1;
            w2 <= w1;
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

    // ------------------------------------------------------------------ threshold ROM
    // word of the step two cycles before the accumulator stage, registered twice (a block RAM
    // reads through the first register), so it stands beside the finished accumulator
    wire [T_WORD-1:0] tq;

    generate
        if (NSTEPS > 0) begin : g_tmem
            reg [T_WORD-1:0] tmem [0:NF-1];
            initial begin
                $readmemh(THRESH_FILE, tmem);
            end

            // read only for the last step of an output beat (the only one whose compares reach
            // the output FIFO): a simulator then skips the wide copies on the other cycles
            reg [T_WORD-1:0] tq_a, tq_b;
            always @(posedge clk) begin
                if (dv[C_ACC-2] && dlast[C_ACC-2]) begin
                    tq_a <= tmem[dnf[C_ACC-2]];
                end
                if (dv[C_ACC-1] && dlast[C_ACC-1]) begin
                    tq_b <= tq_a;
                end
            end
            assign tq = tq_b;
        end else begin : g_no_tmem
            assign tq = {T_WORD{1'b0}};
            wire unused_thr = ^{tq};  // no activation: no thresholds
        end
    endgenerate

    // ------------------------------------------------------------------ per PE: stages 3..7+TS
    wire [OUT_W-1:0] act;  // count + ACT_VAL (or the accumulator) of each PE, into the FIFO

    genvar p, s, q;

    // ------------------------------------------------------------------ packing correction
    // DSP_LANES > 1 with signed weights: the products use u = w + 2**(W_BITS-1), so every
    // accumulator step subtracts 2**(W_BITS-1) * (sum of the step's SIMD inputs). That sum is
    // shared by all PEs: an adder tree over x2 (stage 2), a register after every second level,
    // delayed to stand beside the product trees' roots (stage C_ACC-1).
    wire [ACC_BITS-1:0] xcorr;

    generate
        if (LANES > 1 && IN_SIGNED != 0) begin : g_bad_signed
            // packing needs unsigned inputs (plain concatenation, no borrows between fields)
            mvau_DSP_LANES_needs_unsigned_inputs u_bad ();
        end
        if (DSP_LANES < 1) begin : g_bad_dsp_lanes
            mvau_DSP_LANES_must_be_at_least_1 u_bad ();
        end
        if (XCORR != 0) begin : g_xcorr
            localparam integer XL = (SIMD > 1) ? $clog2(SIMD) : 0;  // x-tree levels
            localparam integer XS = (XL + 1) / 2;                    // x-tree register stages
            localparam integer XD = C_ACC - 3 - XS;                  // delay registers after it
            localparam integer XW = IN_BITS + XL;                    // exact width of the x sum
            if (XD < 0) begin : g_bad_lanes
                // the x tree must not be deeper than the product tree by more than 2 stages
                mvau_DSP_LANES_too_large_for_SIMD u_bad ();
            end
            wire [XW-1:0] xroot;
            adder_tree #(.N(SIMD), .IN_BITS(IN_BITS), .IN_SIGNED(0), .OUT_BITS(XW), .STAGES(XS)) u_xtree (
                .clk(clk), .in_valid(dv[2]), .in_data(x2), .out_data(xroot));
            localparam integer XDN = (XD > 0) ? XD : 0;
            wire [(XDN+1)*XW-1:0] xd;  // entry k: the x sum k cycles after the x tree
            assign xd[XW-1:0] = xroot;
            for (q = 1; q <= XDN; q = q + 1) begin : g_xdelay
                reg [XW-1:0] r;
                always @(posedge clk) begin
                    if (dv[2 + XS + q - 1]) r <= xd[(q-1)*XW +: XW];
                end
                assign xd[q*XW +: XW] = r;
            end
            // 2**(W_BITS-1) * x sum, in ACC_BITS wrap-around
            localparam integer CW = XW + W_BITS;
            wire [CW-1:0] xs_w = {{W_BITS{1'b0}}, xd[XDN*XW +: XW]};
            wire [CW-1:0] xs_sh = xs_w << (W_BITS - 1);
            if (ACC_BITS > CW) begin : g_cext
                assign xcorr = {{(ACC_BITS-CW){1'b0}}, xs_sh};
            end else begin : g_ccut
                assign xcorr = xs_sh[ACC_BITS-1:0];
                if (ACC_BITS < CW) begin : g_unused
                    wire unused_hi = ^xs_sh[CW-1:ACC_BITS];
                end
            end
        end else begin : g_no_xcorr
            assign xcorr = {ACC_BITS{1'b0}};
        end
    endgenerate

    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            // stages 3 .. C_PROD: the NG products of this PE (NG = SIMD without packing)
            reg [NG*PROD_BITS-1:0] prod_q;

            if (LANES > 1) begin : g_packed
                // stage 3: operands beside each multiplier (one per group of LANES lanes, hw/rtl/
                // mac_packed.sv); stage 4: its product; stage 5: field LANES-1 (the group's sum
                // of x * u) as the leaf
                for (s = 0; s < NG; s = s + 1) begin : g_grp
                    localparam integer NL = (SIMD - s * LANES < LANES) ? SIMD - s * LANES : LANES;
                    mac_packed #(.IN_BITS(IN_BITS), .W_BITS(W_BITS), .W_SIGNED(W_SIGNED), .LANES(LANES),
                                 .NLANES(NL), .PK_S(PK_S)) u_mac (
                        .clk(clk), .op_en(dv[C_PROD-3]), .prod_en(dv[C_PROD-2]), .leaf_en(dv[C_PROD-1]),
                        .x(x2[s*LANES*IN_BITS +: NL*IN_BITS]), .w(w2[(p*SIMD+s*LANES)*W_BITS +: NL*W_BITS]),
                        .p(prod_q[s*PROD_BITS +: PROD_BITS]));
                end
            end else begin : g_unpacked
                // one product per lane (hw/rtl/mac_lane.sv: XNOR, DSP `*` with its operand stage,
                // or LUT tables), then registered again as the tree's leaf
                for (s = 0; s < SIMD; s = s + 1) begin : g_lane
                    wire [PROD_BITS-1:0] pa;
                    mac_lane #(.IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .W_BITS(W_BITS), .W_SIGNED(W_SIGNED),
                               .BINARY_XNOR(BINARY_XNOR), .MAC_IMPL(MAC_IMPL), .PROD_BITS(PROD_BITS),
                               .OPERAND_STAGE(DSP_STAGE)) u_mac (
                        .clk(clk), .op_en(dv[C_PROD-3]), .prod_en(dv[C_PROD-2]),
                        .x(x2[s*IN_BITS +: IN_BITS]), .w(w2[(p*SIMD+s)*W_BITS +: W_BITS]), .p(pa));
                    always @(posedge clk) begin
                        if (dv[C_PROD-1]) prod_q[s*PROD_BITS +: PROD_BITS] <= pa;
                    end
                end
            end

            // stages 5 .. 4+TS: adder tree over the NG leaves (hw/rtl/adder_tree.sv), ACC_BITS
            // wrap-around (packed leaves are unsigned sums of x * u: the wrap-around keeps the
            // final sum exact, xcorr removes the weight offset)
            wire [ACC_BITS-1:0] root;
            adder_tree #(.N(NG), .IN_BITS(PROD_BITS), .IN_SIGNED(PROD_SIGNED), .OUT_BITS(ACC_BITS),
                         .STAGES(TS)) u_tree (
                .clk(clk), .in_valid(dv[C_PROD]), .in_data(prod_q), .out_data(root));

            // stage 5+TS: accumulator
            reg [ACC_BITS-1:0] acc;
            always @(posedge clk) begin
                if (dv[C_ACC-1]) begin
                    acc <= (dfirst[C_ACC-1] ? {ACC_BITS{1'b0}} : acc) + root - xcorr;
                end
            end
            wire acc_ext = (ACC_SIGNED != 0) && acc[ACC_BITS-1];

            if (NSTEPS > 0) begin : g_act
                // stage 6+TS: compares acc >= T[ch, t], in CMP_BITS two's complement, registered
                wire [CMP_BITS-1:0] acc_c = {{(CMP_BITS-ACC_BITS){acc_ext}}, acc};
                reg [NCMP-1:0] ge;
                integer k;
                // enabled by the finished accumulator only (the FIFO writes nothing else)
                always @(posedge clk) begin
                    if (dv[C_ACC] && dlast[C_ACC]) begin
                        for (k = 0; k < NSTEPS; k = k + 1) begin
                            ge[k] <= $signed(acc_c) >= $signed({{(CMP_BITS-T_BITS){tq[(p*NSTEPS+k+1)*T_BITS-1]}},
                                                                 tq[(p*NSTEPS+k)*T_BITS +: T_BITS]});
                        end
                    end
                end
                // stage 7+TS (into the FIFO): count of true compares + ACT_VAL
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
                // stage 6+TS: the accumulator again (same latency as with an activation)
                reg [ACC_BITS-1:0] acc_q;
                reg                ext_q;
                always @(posedge clk) begin
                    acc_q <= acc;
                    ext_q <= acc_ext;
                end
                if (OUT_BITS > ACC_BITS) begin : g_acc_ext
                    assign act[p*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-ACC_BITS){ext_q}}, acc_q};
                end else begin : g_acc_trunc
                    assign act[p*OUT_BITS +: OUT_BITS] = acc_q[OUT_BITS-1:0];
                    wire unused_acc = ^{ext_q, acc_q};  // bits above OUT_BITS (none if equal)
                end
            end
        end
    endgenerate

    // ------------------------------------------------------------------ output FIFO
    // written with the finished beat (step with sf = SF-1 at stage C_CMP); read as m_axis
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
            sf <= {SF_W{1'b0}};
            nf <= {NF_W{1'b0}};
            waddr <= {WA_W{1'b0}};
            wptr <= {(OF_AW+1){1'b0}};
            rptr <= {(OF_AW+1){1'b0}};
            ovalid <= 1'b0;
            credits_used <= {(OF_AW+1){1'b0}};
        end else begin
            if (fire) begin
                waddr <= (waddr == LAST_WA) ? {WA_W{1'b0}} : waddr + 1'b1;
                if (last_step) begin
                    sf <= {SF_W{1'b0}};
                    nf <= (nf == LAST_NF) ? {NF_W{1'b0}} : nf + 1'b1;
                end else begin
                    sf <= sf + 1'b1;
                end
            end
            wptr <= wptr_next;
            rptr <= rptr_next;
            ovalid <= wptr_next != rptr_next;
            case ({fire && last_step, rd})
                2'b10: credits_used <= credits_used + 1'b1;
                2'b01: credits_used <= credits_used - 1'b1;
                default: ;
            endcase
        end
    end

endmodule

`default_nettype wire
