// uart_frame_bridge: frames in and results out over an 8N1 UART (a board's USB-serial bridge,
// e.g. the FT231X of the ULX3S), for boards without a processing system.
//
// Host -> FPGA (rxd), per frame: one header byte (bit 0 = clip start: the frame's first beat
// carries m_axis_tuser = 1; bits 7..1 must be 0), then IN_BEATS beats of IN_BYTES bytes each,
// little-endian (the beat's bits [7:0] first; bits above IN_W are ignored).
// FPGA -> host (txd): every output beat as OUT_BYTES bytes, little-endian, bits above OUT_W zero.
// The host knows the beats per output frame (the manifest); s_axis_tlast is not sent.
//
// Flow control: none on the UART (the FT231X has no RTS/CTS wired to the FPGA here). A received
// beat waits in one holding register until the accelerator takes it; a beat completed while the
// previous one still waits is dropped and sets the sticky `overrun` output. At 3 Mbaud a beat
// takes >= 330 clocks at 100 MHz, far longer than the accelerator's input stalls. The transmit
// side is lossless: s_axis_tready is low while a beat is being sent.
//
// Timing: every path is a counter, a compare or a shift register (one LUT level or a carry
// chain); no path crosses from the UART into the accelerator combinationally.

`default_nettype none

module uart_frame_bridge #(
    parameter integer CLKS_PER_BIT = 33,  // clock frequency / baud rate (>= 4)
    parameter integer IN_W = 8,           // accelerator input beat width (m_axis_tdata)
    parameter integer IN_BEATS = 16,      // input beats per frame
    parameter integer OUT_W = 19          // accelerator output beat width (s_axis_tdata)
) (
    input  wire              clk,
    input  wire              rst,          // synchronous, active high

    input  wire              rxd,          // from the host (idle high)
    output wire              txd,          // to the host (idle high)

    output wire [IN_W-1:0]   m_axis_tdata,  // to the accelerator
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready,
    output wire              m_axis_tuser,  // clip start, on a frame's first beat

    input  wire [OUT_W-1:0]  s_axis_tdata,  // from the accelerator
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,

    output reg               overrun       // sticky: an input beat was dropped
);

    localparam integer IN_BYTES = (IN_W + 7) / 8;
    localparam integer OUT_BYTES = (OUT_W + 7) / 8;
    localparam integer CNT_W = $clog2(CLKS_PER_BIT + 1) + 1;
    localparam integer HALF_I = CLKS_PER_BIT / 2;
    localparam integer FULL_I = CLKS_PER_BIT - 1;
    localparam [CNT_W-1:0] HALF = HALF_I[CNT_W-1:0];
    localparam [CNT_W-1:0] FULL = FULL_I[CNT_W-1:0];
    localparam integer IB_W = $clog2(IN_BYTES + 1);
    localparam integer OB_W = $clog2(OUT_BYTES + 1);
    localparam integer BEAT_W = $clog2(IN_BEATS + 1);
    localparam integer LAST_IB_I = IN_BYTES - 1;
    localparam integer LAST_OB_I = OUT_BYTES - 1;
    localparam integer LAST_BEAT_I = IN_BEATS - 1;
    localparam [IB_W-1:0] LAST_IB = LAST_IB_I[IB_W-1:0];
    localparam [OB_W-1:0] LAST_OB = LAST_OB_I[OB_W-1:0];
    localparam [BEAT_W-1:0] LAST_BEAT = LAST_BEAT_I[BEAT_W-1:0];

    // ------------------------------------------------------------------ receiver (8N1)
    reg [1:0] rx_sync;   // two synchronizer stages
    reg [CNT_W-1:0] rx_cnt;
    reg [3:0] rx_bit;    // 0: start bit, 1..8: data, 9: stop
    reg rx_busy;
    reg [7:0] rx_shift;
    reg rx_strobe;       // rx_shift holds a new byte (one cycle)

    always @(posedge clk) begin
        rx_sync <= {rx_sync[0], rxd};
        rx_strobe <= 1'b0;
        if (rst) begin
            rx_sync <= 2'b11;
            rx_busy <= 1'b0;
            rx_cnt <= {CNT_W{1'b0}};
            rx_bit <= 4'd0;
        end else if (!rx_busy) begin
            if (!rx_sync[1]) begin       // start bit edge: sample in the middle of each bit
                rx_busy <= 1'b1;
                rx_cnt <= HALF;
                rx_bit <= 4'd0;
            end
        end else if (rx_cnt != {CNT_W{1'b0}}) begin
            rx_cnt <= rx_cnt - 1'b1;
        end else begin
            rx_cnt <= FULL;
            rx_bit <= rx_bit + 4'd1;
            if (rx_bit == 4'd0) begin
                if (rx_sync[1]) rx_busy <= 1'b0;   // glitch, not a start bit
            end else if (rx_bit == 4'd9) begin
                rx_busy <= 1'b0;
                rx_strobe <= rx_sync[1];           // stop bit must be high (else framing error: drop)
            end else begin
                rx_shift <= {rx_sync[1], rx_shift[7:1]};
            end
        end
    end

    // ------------------------------------------------------------------ frame parser
    reg in_header;               // next byte is a frame header
    reg clip_start;              // header bit 0 of the current frame
    reg first_beat;              // the beat being assembled is the frame's first
    reg [IB_W-1:0] in_byte;
    reg [BEAT_W-1:0] in_beat;
    reg [8*IN_BYTES-1:0] in_shift;
    reg [IN_W-1:0] hold_data;
    reg hold_valid, hold_user;

    assign m_axis_tdata = hold_data;
    assign m_axis_tvalid = hold_valid;
    assign m_axis_tuser = hold_user;

    wire [8*IN_BYTES-1:0] beat_next;  // in_shift with the received byte shifted in at the top
    generate
        if (IN_BYTES > 1) begin : g_multi
            assign beat_next = {rx_shift, in_shift[8*IN_BYTES-1:8]};
            wire unused_low = ^in_shift[7:0];  // shifted out
        end else begin : g_one
            assign beat_next = rx_shift;
            wire unused_shift = ^in_shift;
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            in_header <= 1'b1;
            clip_start <= 1'b0;
            first_beat <= 1'b0;
            in_byte <= {IB_W{1'b0}};
            in_beat <= {BEAT_W{1'b0}};
            hold_valid <= 1'b0;
            hold_user <= 1'b0;
            overrun <= 1'b0;
        end else begin
            if (hold_valid && m_axis_tready) begin
                hold_valid <= 1'b0;
            end
            if (rx_strobe) begin
                if (in_header) begin
                    in_header <= 1'b0;
                    clip_start <= rx_shift[0];
                    first_beat <= 1'b1;
                    in_byte <= {IB_W{1'b0}};
                    in_beat <= {BEAT_W{1'b0}};
                end else begin
                    in_shift <= beat_next;
                    if (in_byte == LAST_IB) begin
                        in_byte <= {IB_W{1'b0}};
                        if (hold_valid && !m_axis_tready) begin
                            overrun <= 1'b1;          // previous beat not taken: drop this one
                        end else begin
                            hold_data <= beat_next[IN_W-1:0];
                            hold_valid <= 1'b1;
                            hold_user <= first_beat && clip_start;
                        end
                        first_beat <= 1'b0;
                        if (in_beat == LAST_BEAT) begin
                            in_header <= 1'b1;
                        end else begin
                            in_beat <= in_beat + 1'b1;
                        end
                    end else begin
                        in_byte <= in_byte + 1'b1;
                    end
                end
            end
        end
    end

    // ------------------------------------------------------------------ transmitter (8N1)
    reg [8*OUT_BYTES-1:0] out_shift;  // bytes of the beat being sent, low byte first
    reg [OB_W-1:0] out_left;          // bytes still to send of this beat (0: idle)
    reg [9:0] tx_frame;               // stop, data[7:0], start; shifted out LSB first
    reg [3:0] tx_bits;                // bits left of the current UART frame
    reg [CNT_W-1:0] tx_cnt;
    reg tx_line;

    assign txd = tx_line;
    assign s_axis_tready = (out_left == {OB_W{1'b0}}) && !rst;

    always @(posedge clk) begin
        if (rst) begin
            out_left <= {OB_W{1'b0}};
            tx_bits <= 4'd0;
            tx_cnt <= {CNT_W{1'b0}};
            tx_line <= 1'b1;
        end else begin
            if (s_axis_tvalid && s_axis_tready) begin
                out_shift <= {{(8*OUT_BYTES-OUT_W){1'b0}}, s_axis_tdata};
                out_left <= LAST_OB + 1'b1;
            end
            if (tx_bits != 4'd0) begin
                if (tx_cnt != {CNT_W{1'b0}}) begin
                    tx_cnt <= tx_cnt - 1'b1;
                end else begin
                    tx_cnt <= FULL;
                    tx_line <= tx_frame[0];
                    tx_frame <= {1'b1, tx_frame[9:1]};
                    tx_bits <= tx_bits - 4'd1;
                end
            end else if (out_left != {OB_W{1'b0}}) begin
                // next byte of the beat: start bit goes out now, then 8 data bits and the stop bit
                // (10 shifts: 8 data bits, the stop bit, and one more stop-level bit so that the
                // stop bit lasts a whole bit time before the next start bit)
                tx_frame <= {1'b1, 1'b1, out_shift[7:0]};
                tx_line <= 1'b0;
                tx_cnt <= FULL;
                tx_bits <= 4'd10;
                out_left <= out_left - 1'b1;
                if (OUT_BYTES > 1) begin
                    out_shift <= out_shift >> 8;
                end
            end
        end
    end

endmodule

`default_nettype wire
