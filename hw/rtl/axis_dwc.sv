// axis_dwc: lane-granular AXI-Stream data-width converter (IN_LANES lanes in, OUT_LANES lanes out).
//
// The stream is a sequence of lanes of LANE_BITS bits; lane i of a beat sits at tdata bits
// [i*LANE_BITS +: LANE_BITS], and lanes leave in the order they came (the first lane of the stream
// is the lowest lane of the first output beat). Any positive IN_LANES and OUT_LANES work, whether or
// not one divides the other (e.g. 3 -> 2, 2 -> 3, 4 -> 12, 24 -> 4); IN_LANES = OUT_LANES is a
// one-beat-deep register stage.
//
// Structure: a lane buffer of CAP = IN_LANES + OUT_LANES - 1 lanes held in flip-flops, filled from
// the bottom; `count` lanes are valid. m_axis_tdata is always the lowest OUT_LANES lanes (straight
// from flip-flops), m_axis_tvalid = (count >= OUT_LANES). An output beat shifts the buffer down by
// OUT_LANES; an input beat is written just above the lanes that remain. An input beat is accepted
// when it fits after this cycle's output beat: s_axis_tready = count < OUT_LANES ||
// (m_axis_tready && count < 2*OUT_LANES) (combinational from m_axis_tready through one gate; tvalid
// never depends on tready). The write offset is therefore always below OUT_LANES, so the input
// multiplexer per buffer lane has at most min(IN_LANES, OUT_LANES) sources.
//
// Throughput (no stalls): whenever the input can supply IN_LANES per cycle at least as fast as
// OUT_LANES are needed (IN_LANES * in_rate >= OUT_LANES), one output beat per cycle; when the output
// is the faster side (widening), one input beat per cycle. No bubbles in the steady state for any
// ratio, integer or not.
// Latency: fixed 1 cycle: the output beat completed by the input beat accepted in cycle n is valid
// in cycle n+1 unless earlier output beats are still queued or stalled in front of it.
//
// Assumption: no tlast, no partial flush. Lanes leave only in whole OUT_LANES beats, so every frame
// must carry a multiple of lcm(IN_LANES, OUT_LANES) lanes (true in our graphs); otherwise the
// leftover lanes wait for the next frame's lanes and the frames' lanes are merged.

`default_nettype none

module axis_dwc #(
    parameter integer LANE_BITS = 4,  // bits per lane (element)
    parameter integer IN_LANES  = 4,  // lanes per input beat (any positive integer)
    parameter integer OUT_LANES = 2   // lanes per output beat (any positive integer)
) (
    input  wire                           clk,
    input  wire                           rst,  // synchronous, active high

    input  wire [IN_LANES*LANE_BITS-1:0]  s_axis_tdata,
    input  wire                           s_axis_tvalid,
    output wire                           s_axis_tready,

    output wire [OUT_LANES*LANE_BITS-1:0] m_axis_tdata,
    output wire                           m_axis_tvalid,
    input  wire                           m_axis_tready
);

    localparam integer CAP    = IN_LANES + OUT_LANES - 1;  // buffer lanes
    localparam integer CAP_W  = CAP * LANE_BITS;
    localparam integer IN_W   = IN_LANES * LANE_BITS;
    localparam integer CW     = $clog2(CAP + OUT_LANES + 1); // holds count and 2*OUT_LANES
    localparam integer OUT2_I = 2 * OUT_LANES;
    localparam [CW-1:0] IN_C   = IN_LANES[CW-1:0];
    localparam [CW-1:0] OUT_C  = OUT_LANES[CW-1:0];
    localparam [CW-1:0] OUT2_C = OUT2_I[CW-1:0];

    reg [CAP_W-1:0] buf_q;  // lane j at bits [j*LANE_BITS +: LANE_BITS], lanes 0..count-1 valid
    reg [CW-1:0]    count;  // valid lanes in buf_q (<= CAP)

    wire out_fire = m_axis_tvalid && m_axis_tready;
    wire in_fire  = s_axis_tvalid && s_axis_tready;
    // first free lane after this cycle's output beat: where an accepted input beat goes (< OUT_LANES)
    wire [CW-1:0] wpos = out_fire ? count - OUT_C : count;

    assign m_axis_tvalid = (count >= OUT_C);
    assign m_axis_tdata  = buf_q[OUT_LANES*LANE_BITS-1:0];
    assign s_axis_tready = (count < OUT_C) || (m_axis_tready && (count < OUT2_C));

    reg [CAP_W-1:0] buf_d;
    integer p;
    always @* begin
        buf_d = out_fire ? (buf_q >> (OUT_LANES * LANE_BITS)) : buf_q;
        if (in_fire) begin
            for (p = 0; p < OUT_LANES; p = p + 1) begin
                if (wpos == p[CW-1:0]) begin
                    buf_d[p*LANE_BITS +: IN_W] = s_axis_tdata;
                end
            end
        end
    end

    always @(posedge clk) begin
        if (in_fire || out_fire) begin
            buf_q <= buf_d;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            count <= {CW{1'b0}};
        end else begin
            count <= wpos + (in_fire ? IN_C : {CW{1'b0}});
        end
    end

endmodule

`default_nettype wire
