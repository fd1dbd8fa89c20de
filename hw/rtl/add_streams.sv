// add_streams: lane-wise integer addition of two AXI-Stream inputs (residual-block join).
//
// RTL counterpart of finn-plus' AddStreams / ElementwiseAdd on two streams of equal shape.
// Each beat carries PE lanes; lane i sits at bits [i*IN_BITS +: IN_BITS] of the inputs and
// [i*OUT_BITS +: OUT_BITS] of the output. Each lane is sign-extended (IN_SIGNED = 1) or
// zero-extended (IN_SIGNED = 0) to OUT_BITS before the add, so with OUT_BITS = IN_BITS + 1
// the sum never overflows. Both inputs are consumed in the same cycle, only when both are
// valid and the output register can accept; the output is registered, full throughput.
// tlast and tuser are taken from input 0 (input 1's are ignored; both inputs are expected
// to carry the same framing).

`default_nettype none

module add_streams #(
    parameter integer PE = 1,              // lanes per beat
    parameter integer IN_BITS = 8,         // bits per lane of both inputs
    parameter integer IN_SIGNED = 0,       // 1: inputs are two's complement, 0: unsigned
    parameter integer OUT_BITS = IN_BITS + 1,  // bits per output lane; must be > IN_BITS
    parameter integer USER_WIDTH = 1       // width of tuser in bits (clip-start sideband)
) (
    input  wire                     clk,
    input  wire                     rst,  // synchronous, active high

    input  wire [PE*IN_BITS-1:0]    s0_axis_tdata,
    input  wire                     s0_axis_tvalid,
    output wire                     s0_axis_tready,
    input  wire                     s0_axis_tlast,
    input  wire [USER_WIDTH-1:0]    s0_axis_tuser,

    input  wire [PE*IN_BITS-1:0]    s1_axis_tdata,
    input  wire                     s1_axis_tvalid,
    output wire                     s1_axis_tready,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire                     s1_axis_tlast,  // ignored: framing comes from input 0
    input  wire [USER_WIDTH-1:0]    s1_axis_tuser,  // ignored: sideband comes from input 0
    /* verilator lint_on UNUSEDSIGNAL */

    output wire [PE*OUT_BITS-1:0]   m_axis_tdata,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready,
    output wire                     m_axis_tlast,
    output wire [USER_WIDTH-1:0]    m_axis_tuser
);

    localparam integer EXT = OUT_BITS - IN_BITS;  // extension bits per lane

    reg [PE*OUT_BITS-1:0] out_data;
    reg                   out_last;
    reg [USER_WIDTH-1:0]  out_user;
    reg                   out_valid;

    wire out_free = !out_valid || m_axis_tready;
    wire fire = s0_axis_tvalid && s1_axis_tvalid && out_free;

    wire [PE*OUT_BITS-1:0] sum;

    genvar i;
    generate
        for (i = 0; i < PE; i = i + 1) begin : g_lane
            wire [IN_BITS-1:0] a = s0_axis_tdata[i*IN_BITS +: IN_BITS];
            wire [IN_BITS-1:0] b = s1_axis_tdata[i*IN_BITS +: IN_BITS];
            wire a_ext_bit = (IN_SIGNED != 0) && a[IN_BITS-1];
            wire b_ext_bit = (IN_SIGNED != 0) && b[IN_BITS-1];
            wire [OUT_BITS-1:0] a_ext = {{EXT{a_ext_bit}}, a};
            wire [OUT_BITS-1:0] b_ext = {{EXT{b_ext_bit}}, b};
            assign sum[i*OUT_BITS +: OUT_BITS] = a_ext + b_ext;
        end
    endgenerate

    assign s0_axis_tready = s1_axis_tvalid && out_free;
    assign s1_axis_tready = s0_axis_tvalid && out_free;
    assign m_axis_tdata = out_data;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast = out_last;
    assign m_axis_tuser = out_user;

    always @(posedge clk) begin
        if (fire) begin
            out_data <= sum;
            out_last <= s0_axis_tlast;
            out_user <= s0_axis_tuser;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
        end else if (fire) begin
            out_valid <= 1'b1;
        end else if (m_axis_tready) begin
            out_valid <= 1'b0;
        end
    end

endmodule

`default_nettype wire
