// tsmfpga_ctrl: AXI-Lite control/status block of the board-level accelerator (tsmfpga_accel).
//
// It watches the handshakes of the stitched top (tsmfpga_top), drives the top's clip-start
// sideband (s_axis_tuser) and keeps frame counters and latency statistics readable over
// AXI-Lite. Register map (byte addresses, 32-bit registers; shared with the Python driver):
//
//   0x00 CTRL        W/R  bit0 CLIP_START: write 1 = the next input frame starts a clip (its
//                         first beat gets s_axis_tuser = 1). Reads back as "pending"; clears
//                         itself when that beat is accepted. Writing 0 does not cancel it
//                         (write-1-to-set, so a CLEAR_STATS write never drops a pending start).
//                         bit1 CLEAR_STATS: write 1 = clear FRAMES_IN/OUT, LAT_*, II_LAST
//                         (self-clearing, reads 0). Events in the same cycle count after it.
//   0x04 STATUS      R    bit0 ERROR (the top's sticky status_error), bit1 CLIP_START_PENDING,
//                         bit2 BUSY (an input frame is partly received or a started frame
//                         has not yet sent its last output beat)
//   0x08 FRAMES_IN   R    frames whose first input beat was accepted
//   0x0C FRAMES_OUT  R    frames whose last output beat (tlast) was sent
//   0x10 LAT_LAST    R    cycles from a frame's first input beat to its last output beat
//   0x14 LAT_MIN     R    (0xFFFFFFFF until a frame completes after reset / clear)
//   0x18 LAT_MAX     R
//   (LAT_* are updated one clock after the frame's last output beat)
//   0x1C II_LAST     R    cycles between the first input beats of the last two frames
//   0x20 CYCLES      R    free-running cycle counter (not cleared by CLEAR_STATS)
//   0x24 INFO        R    IN_FRAME_BEATS[15:0] | OUT_FRAME_BEATS[15:0] << 16
//   0x28 STREAM      W/R  (STREAM_BITS > 0) stream (camera) id of the next input frames: drives
//                         the top's s_axis_tdest, which the top samples on each frame's first beat;
//                         holds until rewritten (write it, and CLIP_START if the camera's clip
//                         starts, before sending the camera's frame). Reads 0 with STREAM_BITS = 0.
//   0x2C OUT_STREAM  R    (STREAM_BITS > 0) stream id (the top's m_axis_tdest) of the last output
//                         frame that completed; 0 with STREAM_BITS = 0.
//   other addresses read 0; writes to read-only registers are ignored (OKAY response).
//
// Latency uses the same definition as the simulation report (tsmfpga.sim): the difference of
// the cycle counter between the handshake of a frame's first input beat and the handshake of
// its last output beat. Input frames are delimited by counting IN_FRAME_BEATS beats; output
// frames by the top's tlast. The start stamps of frames in flight sit in a FIFO of
// 2**STAMP_DEPTH_LOG2 entries (default 16), popped at each output tlast. If more frames than
// that are in flight, the oldest stamps are overwritten; those frames still count in
// FRAMES_OUT but leave the LAT_* registers unchanged (never a wrong latency).
//
// AXI-Lite: one outstanding write and one outstanding read; a write is taken when address and
// data are both valid (awready = wready, allowed by AXI), responses are always OKAY.

`default_nettype none

module tsmfpga_ctrl #(
    parameter integer IN_FRAME_BEATS   = 4,  // beats per frame at the top's input
    parameter integer OUT_FRAME_BEATS  = 4,  // beats per frame at the top's output (INFO only)
    parameter integer STAMP_DEPTH_LOG2 = 4,  // log2 of the frame-start stamp FIFO depth
    parameter integer STREAM_BITS      = 0,  // width of the stream id (0: one stream, no STREAM register)
    parameter integer SW               = (STREAM_BITS > 0) ? STREAM_BITS : 1  // stream port width (derived)
) (
    input  wire        clk,
    input  wire        rst,            // synchronous, active high

    // AXI-Lite slave (32-bit data, 6-bit byte address)
    input  wire [5:0]  s_axi_awaddr,
    input  wire        s_axi_awvalid,
    output wire        s_axi_awready,
    input  wire [31:0] s_axi_wdata,
    input  wire [3:0]  s_axi_wstrb,
    input  wire        s_axi_wvalid,
    output wire        s_axi_wready,
    output wire [1:0]  s_axi_bresp,
    output reg         s_axi_bvalid,
    input  wire        s_axi_bready,
    input  wire [5:0]  s_axi_araddr,
    input  wire        s_axi_arvalid,
    output wire        s_axi_arready,
    output reg  [31:0] s_axi_rdata,
    output wire [1:0]  s_axi_rresp,
    output reg         s_axi_rvalid,
    input  wire        s_axi_rready,

    // observation of the top's streams and control of its sideband
    input  wire        in_beat,        // top input handshake this cycle (tvalid & tready)
    input  wire        out_beat,       // top output handshake this cycle
    input  wire        out_last,       // tlast of that output beat
    input  wire        status_error,   // the top's sticky error flag
    output wire        clip_tuser,     // s_axis_tuser for the top's current input beat
    output wire [SW-1:0] stream_id,    // s_axis_tdest for the top's input frames (STREAM register)
    input  wire [SW-1:0] out_tdest     // the top's m_axis_tdest (with out_beat / out_last)
);

    localparam integer IN_CW = $clog2(IN_FRAME_BEATS + 1);
    localparam integer DEPTH = 1 << STAMP_DEPTH_LOG2;
    localparam [31:0]  INFO  = {16'(OUT_FRAME_BEATS), 16'(IN_FRAME_BEATS)};

    // register word indices (byte address / 4)
    localparam [3:0] A_CTRL = 4'h0, A_STATUS = 4'h1, A_FRAMES_IN = 4'h2, A_FRAMES_OUT = 4'h3,
                     A_LAT_LAST = 4'h4, A_LAT_MIN = 4'h5, A_LAT_MAX = 4'h6, A_II_LAST = 4'h7,
                     A_CYCLES = 4'h8, A_INFO = 4'h9, A_STREAM = 4'hA, A_OUT_STREAM = 4'hB;

    // ---------------------------------------------------------------- AXI-Lite write channel
    wire wr_fire = s_axi_awvalid && s_axi_wvalid && !s_axi_bvalid;
    wire wr_ctrl = wr_fire && s_axi_awaddr[5:2] == A_CTRL && s_axi_wstrb[0];
    wire set_clip = wr_ctrl && s_axi_wdata[0];
    wire clear = wr_ctrl && s_axi_wdata[1];

    // ---------------------------------------------------------------- stream id registers
    wire [31:0] stream_rd, out_stream_rd;
    generate
        if (STREAM_BITS > 0) begin : g_stream
            reg [SW-1:0] stream_q;
            reg [SW-1:0] out_stream_q;
            always @(posedge clk) begin
                if (rst) begin
                    stream_q <= {SW{1'b0}};
                    out_stream_q <= {SW{1'b0}};
                end else begin
                    if (wr_fire && s_axi_awaddr[5:2] == A_STREAM && |s_axi_wstrb)
                        stream_q <= s_axi_wdata[SW-1:0];
                    if (out_beat && out_last)
                        out_stream_q <= out_tdest;
                end
            end
            assign stream_id = stream_q;
            assign stream_rd = 32'(stream_q);
            assign out_stream_rd = 32'(out_stream_q);
        end else begin : g_no_stream
            assign stream_id = 1'b0;
            assign stream_rd = 32'd0;
            assign out_stream_rd = 32'd0;
            wire unused_stream = &{1'b0, out_tdest};
        end
    endgenerate

    assign s_axi_awready = wr_fire;
    assign s_axi_wready  = wr_fire;
    assign s_axi_bresp   = 2'b00;
    assign s_axi_rresp   = 2'b00;

    always @(posedge clk) begin
        if (rst)
            s_axi_bvalid <= 1'b0;
        else if (wr_fire)
            s_axi_bvalid <= 1'b1;
        else if (s_axi_bready)
            s_axi_bvalid <= 1'b0;
    end

    // ---------------------------------------------------------------- frame tracking
    reg [IN_CW-1:0] in_cnt;         // beat index within the current input frame
    reg             clip_pending;
    reg [31:0]      cycles;
    reg [31:0]      frames_in, frames_out;
    reg [31:0]      lat_last, lat_min, lat_max, ii_last;
    reg [31:0]      last_start;     // cycle stamp of the latest frame start
    reg             have_start;     // a frame has started since reset (II_LAST is defined)
    reg [31:0]      stamps [0:DEPTH-1];
    reg [15:0]      in_seq, out_seq; // frames started / finished (mod 2**16), stamp FIFO pointers

    wire frame_start = in_beat && in_cnt == 0;
    wire frame_end   = out_beat && out_last;
    reg  [15:0] in_flight;          // in_seq - out_seq, kept as a counter of its own
    wire pop = frame_end && in_flight != 0;
    // the frame's stamp is still in the FIFO unless more than DEPTH frames were in flight
    wire stamp_ok = in_flight <= 16'(DEPTH);
    wire [31:0] lat = cycles - stamps[out_seq[STAMP_DEPTH_LOG2-1:0]];
    // the statistics are updated one cycle after the frame ends (subtract, then compare: two
    // short paths instead of stamp read -> subtract -> compare -> select in one)
    reg [31:0]      lat_p;
    reg             lat_p_valid;
    // compared with the registers only; a clear in the same cycle makes this frame the new
    // minimum and maximum (lat_p compared with the cleared values 0xFFFFFFFF and 0 is lat_p)
    wire lat_lt_min = lat_p < lat_min;
    wire lat_gt_max = lat_p > lat_max;

    assign clip_tuser = clip_pending && in_cnt == 0;

    always @(posedge clk) begin
        if (frame_start)
            stamps[in_seq[STAMP_DEPTH_LOG2-1:0]] <= cycles;
    end

    always @(posedge clk) begin
        if (rst) begin
            in_cnt       <= 0;
            clip_pending <= 1'b0;
            cycles       <= 32'd0;
            frames_in    <= 32'd0;
            frames_out   <= 32'd0;
            lat_last     <= 32'd0;
            lat_min      <= 32'hFFFF_FFFF;
            lat_max      <= 32'd0;
            ii_last      <= 32'd0;
            last_start   <= 32'd0;
            have_start   <= 1'b0;
            in_seq       <= 16'd0;
            out_seq      <= 16'd0;
            in_flight    <= 16'd0;
            lat_p        <= 32'd0;
            lat_p_valid  <= 1'b0;
        end else begin
            cycles <= cycles + 32'd1;
            if (in_beat)
                in_cnt <= (in_cnt == IN_CW'(IN_FRAME_BEATS - 1)) ? 0 : in_cnt + 1'b1;
            // a write of CLIP_START in the cycle its predecessor is consumed arms the next frame
            clip_pending <= set_clip || (clip_pending && !frame_start);

            frames_in  <= (clear ? 32'd0 : frames_in) + {31'd0, frame_start};
            frames_out <= (clear ? 32'd0 : frames_out) + {31'd0, frame_end};

            if (frame_start) begin
                in_seq     <= in_seq + 16'd1;
                last_start <= cycles;
                have_start <= 1'b1;
            end
            if (frame_start && have_start)
                ii_last <= cycles - last_start;
            else if (clear)
                ii_last <= 32'd0;

            if (pop)
                out_seq <= out_seq + 16'd1;
            if (frame_start != pop)
                in_flight <= frame_start ? in_flight + 16'd1 : in_flight - 16'd1;
            lat_p_valid <= pop && stamp_ok;
            lat_p       <= lat;
            if (lat_p_valid) begin
                lat_last <= lat_p;
                lat_min  <= (clear || lat_lt_min) ? lat_p : lat_min;
                lat_max  <= (clear || lat_gt_max) ? lat_p : lat_max;
            end else if (clear) begin
                lat_last <= 32'd0;
                lat_min  <= 32'hFFFF_FFFF;
                lat_max  <= 32'd0;
            end
        end
    end

    wire busy = in_cnt != 0 || in_flight != 0;

    // ---------------------------------------------------------------- AXI-Lite read channel
    assign s_axi_arready = !s_axi_rvalid;

    reg [31:0] rd_mux;
    always @(*) begin
        case (s_axi_araddr[5:2])
            A_CTRL:       rd_mux = {31'd0, clip_pending};
            A_STATUS:     rd_mux = {29'd0, busy, clip_pending, status_error};
            A_FRAMES_IN:  rd_mux = frames_in;
            A_FRAMES_OUT: rd_mux = frames_out;
            A_LAT_LAST:   rd_mux = lat_last;
            A_LAT_MIN:    rd_mux = lat_min;
            A_LAT_MAX:    rd_mux = lat_max;
            A_II_LAST:    rd_mux = ii_last;
            A_CYCLES:     rd_mux = cycles;
            A_INFO:       rd_mux = INFO;
            A_STREAM:     rd_mux = stream_rd;
            A_OUT_STREAM: rd_mux = out_stream_rd;
            default:      rd_mux = 32'd0;
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            s_axi_rvalid <= 1'b0;
            s_axi_rdata  <= 32'd0;
        end else if (s_axi_arvalid && !s_axi_rvalid) begin
            s_axi_rvalid <= 1'b1;
            s_axi_rdata  <= rd_mux;
        end else if (s_axi_rready) begin
            s_axi_rvalid <= 1'b0;
        end
    end

    // byte-address bits [1:0], the upper data bits of CTRL and its upper byte strobes are unused
    wire unused_ok = &{1'b0, s_axi_awaddr[1:0], s_axi_araddr[1:0], s_axi_wdata[31:2],
                       s_axi_wstrb[3:1]};

endmodule

`default_nettype wire
