// temporal_shift: online temporal shift (TSM) of the first SHIFT_CHANNELS channels of an NHWC stream.
//
// Beats are channel groups of PE channels in pixel-major order (pixel 0: channels 0..PE-1,
// PE..2PE-1, ..., then pixel 1, ...); channel c of a beat sits at tdata[c*DATA_BITS +: DATA_BITS].
// A frame is PIXELS * CHANNELS/PE beats and its last beat carries tlast. For the beats whose
// channel group lies below SHIFT_CHANNELS the output is the same beat of the previous frame, read
// from a frame buffer of PIXELS * SHIFT_CHANNELS/PE words, and the incoming beat is written in its
// place (read-before-write on one address: the read-first block-RAM template). All other beats
// pass through unchanged; tuser and tlast are passed through.
//
// Clip start: tuser set on the first beat of a clip's first frame makes the shifted channels of
// that frame zero instead of buffer content (as does the first frame after rst). The flag "a
// previous frame is stored" is cleared by rst and by a tuser beat and set by each tlast beat.
//
// Requirements: PE divides CHANNELS and SHIFT_CHANNELS; 0 < SHIFT_CHANNELS < CHANNELS; every frame
// is exactly PIXELS * CHANNELS/PE beats (the position counters also restart after each tlast).
//
// Streams: with STREAMS = N > 1 the module serves N independent streams (e.g. cameras) whose
// whole frames interleave in any order (the beats of one frame do not). Each stream has its own
// frame buffer region (buffer word = stream * DEPTH + position, one RAM of N * DEPTH words) and
// its own "previous frame stored" bit; s_axis_tdest carries the stream id, sampled on the first
// beat of each frame (later beats of the frame may carry anything), and tuser / rst clear only
// that stream's bit (rst clears all). m_axis_tdest repeats the frame's stream id on every output
// beat. With STREAMS = 1 (default) tdest is ignored / 0 and the module is the single-stream one.
//
// Timing: one pipeline stage, fixed latency of 1 cycle (input handshake in cycle n, output valid in
// cycle n+1), full throughput of one beat per cycle. s_axis_tready = !m_axis_tvalid ||
// m_axis_tready (combinational through this stage only); the buffer read data is held under
// backpressure because the RAM is only enabled by an accepted beat.
//
// RAM_STYLE "block": the frame buffer carries (* ram_style = "block" *) (block RAM, read-first);
// "distributed": (* ram_style = "distributed" *) (LUT RAM with a flip-flop read register).
// Vivado and yosys synth_xilinx follow the attribute; simulation is identical. Any other value is
// an elaboration error.

`default_nettype none

module temporal_shift #(
    parameter integer CHANNELS       = 8,  // C: channels per pixel
    parameter integer SHIFT_CHANNELS = 2,  // K: leading channels taken from the previous frame (0 < K < C)
    parameter integer PE             = 1,  // channels per beat; must divide CHANNELS and SHIFT_CHANNELS
    parameter integer PIXELS         = 4,  // H * W pixels per frame
    parameter integer DATA_BITS      = 4,  // bits per channel
    parameter [8*11-1:0] RAM_STYLE   = "block", // frame buffer: "block" (BRAM) or "distributed" (LUTRAM)
    parameter integer STREAMS        = 1,  // independent streams, one frame buffer and clip state each
    parameter integer STREAM_W       = (STREAMS > 1) ? $clog2(STREAMS) : 1  // tdest width (derived)
) (
    input  wire                      clk,
    input  wire                      rst,  // synchronous, active high

    input  wire [PE*DATA_BITS-1:0]   s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,
    input  wire                      s_axis_tlast,   // last beat of a frame
    input  wire                      s_axis_tuser,   // clip start (first beat of a clip's first frame)
    input  wire [STREAM_W-1:0]       s_axis_tdest,   // stream id (sampled on a frame's first beat)

    output wire [PE*DATA_BITS-1:0]   m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready,
    output wire                      m_axis_tlast,
    output wire                      m_axis_tuser,
    output wire [STREAM_W-1:0]       m_axis_tdest    // stream id of the frame (0 when STREAMS = 1)
);

    localparam integer WIDTH        = PE * DATA_BITS;
    localparam integer GROUPS       = CHANNELS / PE;        // beats per pixel
    localparam integer SHIFT_GROUPS = SHIFT_CHANNELS / PE;  // shifted beats per pixel
    localparam integer DEPTH        = PIXELS * SHIFT_GROUPS;
    localparam integer GRP_W        = (GROUPS > 1) ? $clog2(GROUPS) : 1;
    localparam integer ADDR_W       = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer LAST_GROUP_I = GROUPS - 1;
    localparam integer LAST_ADDR_I  = DEPTH - 1;
    localparam [GRP_W-1:0]  LAST_GROUP = LAST_GROUP_I[GRP_W-1:0];
    localparam [GRP_W-1:0]  SHIFT_GRP  = SHIFT_GROUPS[GRP_W-1:0];  // fits: SHIFT_GROUPS < GROUPS
    localparam [ADDR_W-1:0] LAST_ADDR  = LAST_ADDR_I[ADDR_W-1:0];
    localparam integer BUF_DEPTH    = STREAMS * DEPTH;      // words of all streams' buffers
    localparam integer BUF_AW       = (BUF_DEPTH > 1) ? $clog2(BUF_DEPTH) : 1;

    reg [WIDTH-1:0] rd_data;    // frame buffer read port (the buffer is declared below)

    reg [GRP_W-1:0]  grp;       // channel group of the next input beat
    reg [ADDR_W-1:0] addr;      // buffer address of the next shifted input beat
    reg [STREAMS-1:0] have_prev; // per stream: its buffer holds the previous frame of its clip

    wire [STREAM_W-1:0] stream;   // stream of the current input beat's frame
    wire [BUF_AW-1:0]   buf_addr; // frame buffer word of the current input beat

    reg             out_valid;
    reg             out_use_mem; // output word comes from the buffer read port
    reg [WIDTH-1:0] out_data;    // pass-through data (or zeros of an unbuffered shifted beat)
    reg             out_last;
    reg             out_user;
    reg [STREAM_W-1:0] out_dest;

    wire accept   = s_axis_tvalid && s_axis_tready;
    wire is_shift = (grp < SHIFT_GRP);
    wire zero_now = s_axis_tuser || !have_prev[stream];

    assign s_axis_tready = !out_valid || m_axis_tready;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tdata  = out_use_mem ? rd_data : out_data;
    assign m_axis_tlast  = out_last;
    assign m_axis_tuser  = out_user;
    assign m_axis_tdest  = out_dest;

    // stream id of the frame in progress: tdest of its first beat; buffer address of the stream
    generate
        if (STREAMS > 1) begin : g_streams
            reg                first_q;   // the next input beat is the first of a frame
            reg [STREAM_W-1:0] stream_q;  // stream of the frame in progress (after its first beat)
            assign stream = first_q ? s_axis_tdest : stream_q;
            always @(posedge clk) begin
                if (rst) begin
                    first_q <= 1'b1;
                end else if (accept) begin
                    first_q <= s_axis_tlast;
                end
                if (accept && first_q) begin
                    stream_q <= s_axis_tdest;
                end
            end
            if ((1 << ADDR_W) == DEPTH) begin : g_pow2
                assign buf_addr = {stream, addr};
            end else begin : g_mul
                localparam [BUF_AW-1:0] DEPTH_W = DEPTH[BUF_AW-1:0];
                assign buf_addr = BUF_AW'(stream) * DEPTH_W + BUF_AW'(addr);
            end
        end else begin : g_one_stream
            assign stream = 1'b0;
            assign buf_addr = addr;
            wire unused_tdest = &{1'b0, s_axis_tdest};
        end
    endgenerate

    // frame buffer, one word per (pixel, shifted channel group): read-first RAM, the old word is
    // read while the new one is written to the same address; one declaration per RAM_STYLE so
    // that the synthesis attribute is a constant
    generate
        if (RAM_STYLE == "distributed") begin : g_buf_lut
            (* ram_style = "distributed" *)
            reg [WIDTH-1:0] mem [0:BUF_DEPTH-1];
            always @(posedge clk) begin
                if (accept && is_shift) begin
                    rd_data <= mem[buf_addr];
                    mem[buf_addr] <= s_axis_tdata;
                end
            end
        end else if (RAM_STYLE == "block") begin : g_buf_bram
            (* ram_style = "block" *)
            reg [WIDTH-1:0] mem [0:BUF_DEPTH-1];
            always @(posedge clk) begin
                if (accept && is_shift) begin
                    rd_data <= mem[buf_addr];
                    mem[buf_addr] <= s_axis_tdata;
                end
            end
        end else begin : g_bad_ram_style
            // RAM_STYLE must be "block" or "distributed": no such module exists, so elaboration stops
            temporal_shift_RAM_STYLE_must_be_block_or_distributed u_bad ();
        end
    endgenerate

    always @(posedge clk) begin
        if (accept) begin
            out_use_mem <= is_shift && !zero_now;
            out_data <= is_shift ? {WIDTH{1'b0}} : s_axis_tdata;
            out_last <= s_axis_tlast;
            out_user <= s_axis_tuser;
            out_dest <= stream;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            grp <= {GRP_W{1'b0}};
            addr <= {ADDR_W{1'b0}};
            have_prev <= {STREAMS{1'b0}};
            out_valid <= 1'b0;
        end else begin
            if (accept) begin
                out_valid <= 1'b1;
            end else if (m_axis_tready) begin
                out_valid <= 1'b0;
            end
            if (accept) begin
                if (s_axis_tlast) begin
                    grp <= {GRP_W{1'b0}};
                    addr <= {ADDR_W{1'b0}};
                    have_prev[stream] <= 1'b1;
                end else begin
                    grp <= (grp == LAST_GROUP) ? {GRP_W{1'b0}} : grp + 1'b1;
                    if (is_shift) begin
                        addr <= (addr == LAST_ADDR) ? {ADDR_W{1'b0}} : addr + 1'b1;
                    end
                    if (s_axis_tuser) begin
                        have_prev[stream] <= 1'b0;
                    end
                end
            end
        end
    end

endmodule

`default_nettype wire
