// tsmfpga_top test double for the tsmfpga_accel testbench (same ports as the generated top).
//
// Consumes frames of IN_FRAME_BEATS beats. For each frame it computes the sum of its input
// words and records the clip-start sideband: whether s_axis_tuser was 1 on the frame's first
// beat, and whether it was 1 on any other beat (must never happen). DELAY cycles after the
// frame's last input beat it emits OUT_FRAME_BEATS beats, beat j carrying
//   {tuser_first (1), tuser_elsewhere (1), (sum + j) mod 2**(OUT_W-2)},
// with tlast on the last one. Up to 4 finished frames wait for the output (several frames in
// flight); the input stalls when they are all taken. status_error is a sticky register that
// the logic never sets (the testbench may deposit it to check the STATUS register).
// The parameters are fixed by the testbench (tsmfpga_accel instantiates the top without any).

`default_nettype none

module tsmfpga_top #(
    parameter integer IN_W            = 12,
    parameter integer OUT_W           = 19,
    parameter integer IN_FRAME_BEATS  = 6,
    parameter integer OUT_FRAME_BEATS = 3,
    parameter integer DELAY           = 7
) (
    input  wire             clk,
    input  wire             rst,

    input  wire [IN_W-1:0]  s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    input  wire             s_axis_tuser,

    output wire [OUT_W-1:0] m_axis_tdata,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready,
    output wire             m_axis_tlast,

    output wire             status_error
);

    localparam integer SW = OUT_W - 2;

    reg [31:0]   cycle;
    reg [31:0]   in_cnt;
    reg [SW-1:0] acc;
    reg          tu_first, tu_other;

    // finished frames waiting for output: sum, flags, cycle from which they may leave
    reg [SW-1:0] q_sum   [0:3];
    reg [1:0]    q_flags [0:3];
    reg [31:0]   q_due   [0:3];
    reg [2:0]    wr, rd;
    reg [31:0]   out_cnt;
    reg          err_q;

    wire full  = (wr - rd) == 3'd4;
    wire empty = wr == rd;
    wire in_fire = s_axis_tvalid && s_axis_tready;
    wire last_in = in_cnt == IN_FRAME_BEATS - 1;
    wire out_fire = m_axis_tvalid && m_axis_tready;
    wire last_out = out_cnt == OUT_FRAME_BEATS - 1;
    wire [SW-1:0] beat_sum = (in_cnt == 0 ? {SW{1'b0}} : acc) + SW'(s_axis_tdata);

    assign s_axis_tready = !full && !rst;
    assign m_axis_tvalid = !empty && cycle >= q_due[rd[1:0]];
    assign m_axis_tdata  = {q_flags[rd[1:0]], q_sum[rd[1:0]] + SW'(out_cnt)};
    assign m_axis_tlast  = last_out;
    assign status_error  = err_q;

    always @(posedge clk) begin
        if (rst) begin
            cycle    <= 0;
            in_cnt   <= 0;
            acc      <= 0;
            tu_first <= 1'b0;
            tu_other <= 1'b0;
            wr       <= 0;
            rd       <= 0;
            out_cnt  <= 0;
            err_q    <= 1'b0;
        end else begin
            cycle <= cycle + 1;
            if (in_fire) begin
                acc <= beat_sum;
                if (in_cnt == 0) begin
                    tu_first <= s_axis_tuser;
                    tu_other <= 1'b0;
                end else if (s_axis_tuser) begin
                    tu_other <= 1'b1;
                end
                if (last_in) begin
                    in_cnt <= 0;
                    q_sum[wr[1:0]]   <= beat_sum;
                    q_flags[wr[1:0]] <= {in_cnt == 0 ? s_axis_tuser : tu_first,
                                         in_cnt == 0 ? 1'b0 : (tu_other || s_axis_tuser)};
                    q_due[wr[1:0]]   <= cycle + DELAY;
                    wr <= wr + 1;
                end else begin
                    in_cnt <= in_cnt + 1;
                end
            end
            if (out_fire) begin
                if (last_out) begin
                    out_cnt <= 0;
                    rd <= rd + 1;
                end else begin
                    out_cnt <= out_cnt + 1;
                end
            end
        end
    end

endmodule

`default_nettype wire
