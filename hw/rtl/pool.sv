// pool: window reduction (max or quantized sum/average) behind a depthwise sliding-window generator.
//
// RTL counterpart of finn-plus' Pool op (finn.custom_op.fpgadataflow.pool), Function "MaxPool"
// (FUNCTION = 0) or "QuantAvgPool" (FUNCTION = 1; also "AccPool" with SHIFT = 0 and a wide enough
// OUT_BITS). Each beat carries PE lanes, lane i at bits [i*IN_BITS +: IN_BITS] of s_axis_tdata and
// [i*OUT_BITS +: OUT_BITS] of m_axis_tdata.
//
// Input order: what finn-plus' depthwise ConvolutionInputGenerator (SWG, SIMD = PE) really streams,
// per output pixel (1, OH, OW, CHANNELS/PE, KERNEL, PE): for each channel group g (channels
// g*PE .. g*PE+PE-1) the KERNEL window positions come as KERNEL consecutive beats. So every run of
// KERNEL consecutive beats is reduced lane-wise into one output beat, and the output is the NHWC
// tensor (1, OH, OW, CHANNELS) in beats of PE channels. Note: Pool's Python execute_node reads its
// (1, OH, OW, KERNEL*CHANNELS) input as (KERNEL, CHANNELS) (im2col order); the two orders are the
// same only for PE = CHANNELS. Window and channel counts never matter beyond KERNEL: a frame is just
// OH*OW*CHANNELS/PE runs of KERNEL beats, and no pixel or frame counter is kept.
//
// Arithmetic (as Pool.execute_node): MaxPool keeps the lane-wise maximum (two's-complement compare
// for IN_SIGNED = 1). QuantAvgPool sums the KERNEL values exactly in IN_BITS + clog2(KERNEL) bits
// (sign- or zero-extended), shifts the sum right by SHIFT (arithmetic for signed, i.e. floor, like
// numpy right_shift) and keeps the low OUT_BITS bits. finn-plus' shift is
// max(0, bit_length((2**IN_BITS - 1) * KERNEL) - OUT_BITS) (= the node's Size attribute, as set by
// InferPool from QuantAvgPool2d); e.g. UINT4, KERNEL 16, UINT8 out: AccumBits 8, Size 0, a plain sum.
// The accumulator never wraps, so the result equals finn's whenever it fits OUT_BITS (always the
// case for finn-chosen types; HLS' ap_int<AccumBits> accumulator agrees when AccumBits is at
// least the exact sum width, which minimize_accumulator_width guarantees).
//
// Timing: the beats of a window are accumulated in a per-lane register; the KERNEL-th beat writes
// the result into the output register. Fixed latency 1 cycle (last beat of a window accepted in
// cycle n, its output beat valid in cycle n+1). One input beat per cycle sustained (one output beat
// per KERNEL cycles). Under output backpressure the first KERNEL-1 beats of the next window are still
// accepted; only a window's last beat waits for the output register:
// s_axis_tready = !last_beat || !m_axis_tvalid || m_axis_tready (combinational through this stage).

`default_nettype none

module pool #(
    /* verilator lint_off UNUSEDPARAM */
    parameter integer CHANNELS  = 16, // C: channels per pixel (not used by the datapath: every run of
                                      // KERNEL beats is independent); must be a multiple of PE
    /* verilator lint_on UNUSEDPARAM */
    parameter integer PE        = 2,  // channels (lanes) per beat, = the SWG's SIMD
    parameter integer KERNEL    = 4,  // window size K_H*K_W as one count (4 for 2x2, H*W for global)
    parameter integer IN_BITS   = 4,  // bits per input lane
    parameter integer IN_SIGNED = 0,  // 1: lanes are two's complement (input and output), 0: unsigned
    parameter integer OUT_BITS  = 4,  // bits per output lane; must equal IN_BITS for MaxPool
    parameter integer FUNCTION  = 0,  // 0: MaxPool, 1: QuantAvgPool (sum >> SHIFT)
    parameter integer SHIFT     = 0   // QuantAvgPool right shift of the sum (finn's Size); ignored by MaxPool
) (
    input  wire                     clk,
    input  wire                     rst,  // synchronous, active high

    input  wire [PE*IN_BITS-1:0]    s_axis_tdata,
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,

    output wire [PE*OUT_BITS-1:0]   m_axis_tdata,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready
);

    // accumulator: the exact window sum for QuantAvgPool, the running maximum for MaxPool
    localparam integer ACC_W  = (FUNCTION == 0) ? IN_BITS : IN_BITS + $clog2(KERNEL);
    // width the result is extended to before shifting and cutting to OUT_BITS
    localparam integer RES_W  = (ACC_W > OUT_BITS) ? ACC_W : OUT_BITS;
    localparam integer SH     = (FUNCTION == 0) ? 0 : SHIFT;
    localparam integer KCNT_W = (KERNEL > 1) ? $clog2(KERNEL) : 1;
    localparam integer LAST_K_I = KERNEL - 1;
    localparam [KCNT_W-1:0] LAST_K = LAST_K_I[KCNT_W-1:0];

    reg [KCNT_W-1:0]      kcnt;      // window position of the next input beat
    reg [PE*ACC_W-1:0]    acc;       // per-lane partial result of the current window
    reg [PE*OUT_BITS-1:0] out_data;
    reg                   out_valid;

    wire first  = (kcnt == {KCNT_W{1'b0}});
    wire last   = (kcnt == LAST_K);
    wire accept = s_axis_tvalid && s_axis_tready;

    wire [PE*ACC_W-1:0]    acc_next;  // partial result including the current beat
    wire [PE*OUT_BITS-1:0] result;    // acc_next as output lanes (valid on a window's last beat)

    genvar i;
    generate
        for (i = 0; i < PE; i = i + 1) begin : g_lane
            wire [IN_BITS-1:0] x = s_axis_tdata[i*IN_BITS +: IN_BITS];
            wire [ACC_W-1:0]   a = acc[i*ACC_W +: ACC_W];
            wire [ACC_W-1:0]   upd;

            if (FUNCTION == 0) begin : g_max
                wire gt = (IN_SIGNED != 0) ? ($signed(x) > $signed(a)) : (x > a);
                assign upd = (first || gt) ? x : a;
            end else begin : g_sum
                wire [ACC_W-1:0] x_ext;
                if (ACC_W > IN_BITS) begin : g_ext
                    wire xs = (IN_SIGNED != 0) && x[IN_BITS-1];
                    assign x_ext = {{(ACC_W - IN_BITS){xs}}, x};
                end else begin : g_noext
                    assign x_ext = x;
                end
                assign upd = first ? x_ext : a + x_ext;
            end
            assign acc_next[i*ACC_W +: ACC_W] = upd;

            // extend to RES_W, shift (arithmetic if signed), keep the low OUT_BITS bits
            wire [RES_W-1:0] r_ext;
            if (RES_W > ACC_W) begin : g_rext
                wire us = (IN_SIGNED != 0) && upd[ACC_W-1];
                assign r_ext = {{(RES_W - ACC_W){us}}, upd};
            end else begin : g_rnoext
                assign r_ext = upd;
            end
            /* verilator lint_off UNUSEDSIGNAL */
            wire [RES_W-1:0] r_shift;  // bits above OUT_BITS are dropped
            /* verilator lint_on UNUSEDSIGNAL */
            if (IN_SIGNED != 0) begin : g_ashr
                wire signed [RES_W-1:0] r_ext_s = r_ext;
                assign r_shift = r_ext_s >>> SH;
            end else begin : g_lshr
                assign r_shift = r_ext >> SH;
            end
            assign result[i*OUT_BITS +: OUT_BITS] = r_shift[OUT_BITS-1:0];
        end
    endgenerate

    assign s_axis_tready = !last || !out_valid || m_axis_tready;
    assign m_axis_tdata  = out_data;
    assign m_axis_tvalid = out_valid;

    always @(posedge clk) begin
        if (accept) begin
            acc <= acc_next;
        end
        if (accept && last) begin
            out_data <= result;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            kcnt <= {KCNT_W{1'b0}};
            out_valid <= 1'b0;
        end else begin
            if (accept) begin
                kcnt <= last ? {KCNT_W{1'b0}} : kcnt + 1'b1;
            end
            if (accept && last) begin
                out_valid <= 1'b1;
            end else if (m_axis_tready) begin
                out_valid <= 1'b0;
            end
        end
    end

endmodule

`default_nettype wire
