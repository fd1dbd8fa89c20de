// clip_flags: carries the clip-start sideband from the accelerator input to one stateful op.
//
// The accelerator input marks the first beat of a clip's first frame with tuser. This module
// watches the input handshakes, takes the tuser of every frame's first beat (one flag per
// frame, IN_FRAME_BEATS beats per input frame) into a small FIFO, and presents the flag of the
// frame the op is currently consuming on the op's tuser while the op's beat counter is at the
// first beat of a frame (OP_FRAME_BEATS beats per frame at the op). Frames stay in order through
// a dataflow pipeline, so flags and frames line up without travelling with the data.
// DEPTH bounds the frames in flight between the input and the op; `overflow` is a sticky error
// bit (a frame start arrived with the FIFO full) that the testbench checks.
//
// The op's tlast (last beat of its frame) comes from the same counter.
//
// Streams: with STREAM_BITS > 0 each frame's entry also holds the stream id (in_tdest of the
// frame's first input beat), presented on op_tdest for every beat of the frame the op is
// consuming (the head entry; 0 when the queue is empty). The same module carries the stream id
// to the accelerator output (op = the output port). STREAM_BITS = 0: single stream, op_tdest = 0.
//
// Timing: op_tuser / op_tlast are combinational from registers (no dependency on op handshakes this cycle).

`default_nettype none

module clip_flags #(
    parameter integer IN_FRAME_BEATS = 4,  // beats per frame at the accelerator input
    parameter integer OP_FRAME_BEATS = 4,  // beats per frame at the op's input
    parameter integer DEPTH_LOG2     = 3,  // log2 of the flag FIFO depth (frames in flight)
    parameter integer STREAM_BITS    = 0,  // bits of the stream id carried per frame (0: none)
    parameter integer SW             = (STREAM_BITS > 0) ? STREAM_BITS : 1  // tdest port width (derived)
) (
    input  wire clk,
    input  wire rst,            // synchronous, active high

    input  wire in_beat,        // an input beat is accepted this cycle (tvalid & tready)
    input  wire in_tuser,       // tuser of that input beat (clip start on a frame's first beat)
    input  wire [SW-1:0] in_tdest,  // stream id of that input beat (used on a frame's first beat)
    input  wire op_beat,        // the op accepts a beat this cycle

    output wire op_tuser,       // clip-start flag for the op's current beat
    output wire op_tlast,       // the op's current beat is the last of its frame
    output wire [SW-1:0] op_tdest,  // stream id of the op's current frame
    output reg  overflow        // sticky: a frame flag was lost (DEPTH too small)
);

    localparam integer DEPTH = 1 << DEPTH_LOG2;
    localparam integer IN_W  = $clog2(IN_FRAME_BEATS + 1);
    localparam integer OP_W  = $clog2(OP_FRAME_BEATS + 1);

    reg [IN_W-1:0]        in_cnt;
    reg [OP_W-1:0]        op_cnt;
    // one flag per queued frame: a memory without reset, read asynchronously, so it maps to LUT
    // RAM (a few LUTs for any DEPTH up to 256) instead of DEPTH flip-flops and a DEPTH:1 mux; an
    // entry is only read between its write and its pop (op_tuser is gated by !empty)
    (* ram_style = "distributed" *)
    reg                   flags [0:DEPTH-1];
    reg [DEPTH_LOG2:0]    wr_ptr;
    reg [DEPTH_LOG2:0]    rd_ptr;

    wire push  = in_beat && in_cnt == 0;
    wire pop   = op_beat && op_tlast;
    wire empty = wr_ptr == rd_ptr;
    wire full  = wr_ptr == {~rd_ptr[DEPTH_LOG2], rd_ptr[DEPTH_LOG2-1:0]};

    assign op_tuser = op_cnt == 0 && !empty && flags[rd_ptr[DEPTH_LOG2-1:0]];
    assign op_tlast = op_cnt == OP_W'(OP_FRAME_BEATS - 1);

    generate
        if (STREAM_BITS > 0) begin : g_ids
            reg [SW-1:0] ids [0:DEPTH-1];  // stream id per queued frame (LUT RAM)
            assign op_tdest = empty ? {SW{1'b0}} : ids[rd_ptr[DEPTH_LOG2-1:0]];
            always @(posedge clk) begin
                if (push && !(full && !pop)) begin
                    ids[wr_ptr[DEPTH_LOG2-1:0]] <= in_tdest;
                end
            end
        end else begin : g_no_ids
            assign op_tdest = {SW{1'b0}};
            wire unused_tdest = &{1'b0, in_tdest};
        end
    endgenerate

    always @(posedge clk) begin
        if (push && !(full && !pop) && !rst) begin
            flags[wr_ptr[DEPTH_LOG2-1:0]] <= in_tuser;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            in_cnt   <= 0;
            op_cnt   <= 0;
            wr_ptr   <= 0;
            rd_ptr   <= 0;
            overflow <= 1'b0;
        end else begin
            if (in_beat)
                in_cnt <= (in_cnt == IN_W'(IN_FRAME_BEATS - 1)) ? 0 : in_cnt + 1'b1;
            if (op_beat)
                op_cnt <= (op_cnt == OP_W'(OP_FRAME_BEATS - 1)) ? 0 : op_cnt + 1'b1;
            if (push) begin
                if (full && !pop) begin
                    overflow <= 1'b1;
                end else begin
                    wr_ptr <= wr_ptr + 1'b1;
                end
            end
            if (pop && !empty)
                rd_ptr <= rd_ptr + 1'b1;
        end
    end

endmodule

`default_nettype wire
