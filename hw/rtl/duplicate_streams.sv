// duplicate_streams: fork one AXI-Stream into two identical streams (residual-block branch).
//
// RTL counterpart of finn-plus' DuplicateStreams (NumOutputStreams = 2). Every input beat
// (tdata, tlast, tuser) appears once on m0_axis and once on m1_axis, in order.
// Each branch has its own output valid over a shared data register: a new input beat is
// accepted when both branch registers are free or being drained this cycle, so the two
// consumers may stall independently without loss, duplication or deadlock. Full throughput
// when both consumers are ready. s_axis_tready depends combinationally on m*_axis_tready.

`default_nettype none

module duplicate_streams #(
    parameter integer DATA_WIDTH = 8,  // width of tdata in bits
    parameter integer USER_WIDTH = 1   // width of tuser in bits (clip-start sideband)
) (
    input  wire                  clk,
    input  wire                  rst,  // synchronous, active high

    input  wire [DATA_WIDTH-1:0] s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,
    input  wire                  s_axis_tlast,
    input  wire [USER_WIDTH-1:0] s_axis_tuser,

    output wire [DATA_WIDTH-1:0] m0_axis_tdata,
    output wire                  m0_axis_tvalid,
    input  wire                  m0_axis_tready,
    output wire                  m0_axis_tlast,
    output wire [USER_WIDTH-1:0] m0_axis_tuser,

    output wire [DATA_WIDTH-1:0] m1_axis_tdata,
    output wire                  m1_axis_tvalid,
    input  wire                  m1_axis_tready,
    output wire                  m1_axis_tlast,
    output wire [USER_WIDTH-1:0] m1_axis_tuser
);

    localparam integer WORD = DATA_WIDTH + USER_WIDTH + 1;

    reg [WORD-1:0] out_word;
    reg valid0;
    reg valid1;

    // a branch register can take a new beat when it is empty or its beat leaves this cycle
    wire free0 = !valid0 || m0_axis_tready;
    wire free1 = !valid1 || m1_axis_tready;
    wire accept = s_axis_tvalid && free0 && free1;

    assign s_axis_tready = free0 && free1;
    assign m0_axis_tvalid = valid0;
    assign m1_axis_tvalid = valid1;
    assign {m0_axis_tuser, m0_axis_tlast, m0_axis_tdata} = out_word;
    assign {m1_axis_tuser, m1_axis_tlast, m1_axis_tdata} = out_word;

    always @(posedge clk) begin
        if (accept) begin
            out_word <= {s_axis_tuser, s_axis_tlast, s_axis_tdata};
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            valid0 <= 1'b0;
            valid1 <= 1'b0;
        end else if (accept) begin
            valid0 <= 1'b1;
            valid1 <= 1'b1;
        end else begin
            if (m0_axis_tready) begin
                valid0 <= 1'b0;
            end
            if (m1_axis_tready) begin
                valid1 <= 1'b0;
            end
        end
    end

endmodule

`default_nettype wire
