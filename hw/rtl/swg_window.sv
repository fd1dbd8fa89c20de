// swg_window: sliding-window generator (im2col stream of a convolution / pooling window), the
// "default" implementation style of finn-rtllib's ConvolutionInputGenerator_rtl
// (swg_template_default.sv + swg_controller, Copyright (C) 2022 Advanced Micro Devices, Inc.,
// BSD-3-Clause), restructured for timing. Every parameter is the value finn-plus computes for that
// template (ConvolutionInputGenerator_rtl.prepare_codegen_default), so the window buffer, the
// addressing scheme and the cycle-by-cycle handshake behaviour are finn-rtllib's.
//
// What changes is how the flow-control conditions are computed. finn-rtllib compares element
// counters every cycle (newest buffered element - (BUF_ELEM_TOTAL-1) < first element of the next
// window / current element; current element > newest buffered element) and then adds to them: a
// subtract, two compares and an add in one path (31 logic levels, 64 MHz on an ECP5 -6). Here the
// three differences are registers of their own (R_FIRST, R_CUR, R_FETCH below), updated by one
// addition each from per-state constants; the conditions are their sign bits. The cyclic read
// address is computed with its wrap-around corrections in parallel (three adds, one select)
// instead of add -> compare -> add. The differences are checked against their definitions every
// cycle in simulation (`ifndef SYNTHESIS), and tests run this module in lockstep with
// finn-rtllib's under random valid/ready.

`default_nettype none

module swg_window #(
    parameter integer BIT_WIDTH = 4,             // bits per element
    parameter integer SIMD = 1,                  // elements per beat (in and out)
    parameter integer LAST_READ_ELEM = 15,       // index of the last input beat of a feature map
    parameter integer LAST_WRITE_ELEM = 15,      // index (in input beats) of the last output beat's element
    parameter integer BUF_ELEM_TOTAL = 8,        // window buffer depth, beats
    parameter integer ELEM_PER_WINDOW = 9,       // output beats per window
    parameter integer LOOP_H_ITERATIONS = 1,     // output rows - 1
    parameter integer LOOP_W_ITERATIONS = 1,     // output columns - 1
    parameter integer LOOP_KH_ITERATIONS = 1,    // kernel rows - 1
    parameter integer LOOP_KW_ITERATIONS = 1,    // kernel columns - 1
    parameter integer LOOP_SIMD_ITERATIONS = 0,  // channel folds - 1
    parameter integer HEAD_INCR_SIMD = 1,        // read-address increment inside a channel fold loop
    parameter integer HEAD_INCR_KW = 1,          // ... at a kernel-column step
    parameter integer HEAD_INCR_KH = 1,          // ... at a kernel-row step
    parameter integer HEAD_INCR_W = 1,           // ... at an output-column step
    parameter integer HEAD_INCR_H = 1,           // ... at an output-row step
    parameter integer TAIL_INCR_W = 1,           // first-element-of-next-window step at a column
    parameter integer TAIL_INCR_H = 1,           // ... at a row
    parameter integer TAIL_INCR_LAST = 1,        // ... at the end of the feature map
    parameter integer IS_DEPTHWISE = 0,          // 1: channel-fold loop outside the kernel loops
    parameter integer INNERMOST_STATE = 1,       // swg::state_e code of the innermost loop (1 SIMD, 2 KW)
    parameter [8*11-1:0] RAM_STYLE = "auto"      // window buffer ram_style: "block", "distributed" or "auto"
) (
    input  wire                          clk,
    input  wire                          rst,            // synchronous, active high

    input  wire [BIT_WIDTH*SIMD-1:0]     s_axis_tdata,
    input  wire                          s_axis_tvalid,
    output wire                          s_axis_tready,

    output wire [BIT_WIDTH*SIMD-1:0]     m_axis_tdata,
    output wire                          m_axis_tvalid,
    input  wire                          m_axis_tready
);
    localparam integer WIDTH = BIT_WIDTH * SIMD;
    localparam integer AW = $clog2(BUF_ELEM_TOTAL);
    localparam integer B = BUF_ELEM_TOTAL;
    // signed width of every difference and increment (ranges: see the comments at the registers)
    localparam integer DW = $clog2(LAST_READ_ELEM + TAIL_INCR_LAST + 2 * BUF_ELEM_TOTAL + 8) + 2;
    localparam integer NW = $clog2(LAST_READ_ELEM + 1) + 1;  // newest buffered element (finn's width)
    localparam integer PW = ELEM_PER_WINDOW > 1 ? $clog2(ELEM_PER_WINDOW) : 1;
    localparam signed [DW-1:0] BM1 = DW'(BUF_ELEM_TOTAL - 1);   // reset value of r_first, r_cur
    localparam signed [DW-1:0] ONES = '1;                       // -1

    // controller states (finn-rtllib swg_pkg state_e codes)
    localparam [2:0] S_START = 3'd0, S_SIMD = 3'd1, S_KW = 3'd2, S_KH = 3'd3, S_W = 3'd4, S_H = 3'd5;
    localparam [2:0] S_INNER = 3'(INNERMOST_STATE);

    // ---------------------------------------------------------------- window buffer
    reg [WIDTH-1:0] ram_out;
    reg [AW-1:0] ra;    // read address, 0 .. B-1
    reg [AW-1:0] wa;    // write address, 0 .. B-1

    // ---------------------------------------------------------------- loop controller
    reg [2:0] state;
    // loop counters: N .. -1 (finn's widths); their reload values
    localparam integer HW_ = $clog2(LOOP_H_ITERATIONS + 1) + 1, WW_ = $clog2(LOOP_W_ITERATIONS + 1) + 1;
    localparam integer KHW = $clog2(LOOP_KH_ITERATIONS + 1) + 1, KWW = $clog2(LOOP_KW_ITERATIONS + 1) + 1;
    localparam integer SW_ = $clog2(LOOP_SIMD_ITERATIONS + 1) + 1;
    localparam [HW_-1:0] H0 = HW_'(LOOP_H_ITERATIONS);
    localparam [WW_-1:0] W0 = WW_'(LOOP_W_ITERATIONS);
    localparam [KHW-1:0] KH0 = KHW'(LOOP_KH_ITERATIONS);
    localparam [KWW-1:0] KW0 = KWW'(LOOP_KW_ITERATIONS);
    localparam [SW_-1:0] S0 = SW_'(LOOP_SIMD_ITERATIONS);
    reg [HW_-1:0] cnt_h;
    reg [WW_-1:0] cnt_w;
    reg [KHW-1:0] cnt_kh;
    reg [KWW-1:0] cnt_kw;
    reg [SW_-1:0] cnt_simd;

    // SCALE * (head increment of a controller state) + OFF: a mux of constants (scale and
    // offset are applied per case at elaboration, not after the mux)
    function automatic integer head_incr(input [2:0] s, input integer scale, input integer off);
        case (s)
            S_SIMD: head_incr = scale * HEAD_INCR_SIMD + off;
            S_KW:   head_incr = scale * HEAD_INCR_KW + off;
            S_KH:   head_incr = scale * HEAD_INCR_KH + off;
            S_W:    head_incr = scale * HEAD_INCR_W + off;
            S_H:    head_incr = scale * HEAD_INCR_H + off;
            default: head_incr = off;
        endcase
    endfunction

    // tail increment for the counters' sign bits (kh, w, h: 1 = the loop is at -1) plus an offset
    function automatic integer tail_incr(input kh_end, input w_end, input h_end, input integer off);
        if (IS_DEPTHWISE != 0 && !kh_end) tail_incr = 1 + off;
        else if (!w_end) tail_incr = TAIL_INCR_W + off;
        else if (!h_end) tail_incr = TAIL_INCR_H + off;
        else tail_incr = TAIL_INCR_LAST + off;
    endfunction

    // next state (a continuous assignment: Icarus would not evaluate an always @* at time 0)
    wire [2:0] state_next =
        state != S_INNER ? S_INNER :
        !cnt_simd[$bits(cnt_simd)-1] ? state :
        !cnt_kw[$bits(cnt_kw)-1] ? S_KW : !cnt_kh[$bits(cnt_kh)-1] ? S_KH :
        !cnt_w[$bits(cnt_w)-1] ? S_W : !cnt_h[$bits(cnt_h)-1] ? S_H : S_START;

    // ---------------------------------------------------------------- counters and conditions
    reg signed [NW-1:0] nbe;          // newest buffered element: -1 .. LAST_READ_ELEM
    reg reading_last;
    reg reading_done;
    reg signed [DW-1:0] cur;           // current element: 0 .. LAST_WRITE_ELEM
    reg [PW-1:0] pos;                  // position in the window: 0 .. ELEM_PER_WINDOW-1
    reg pos_zero;
    // r_first = first_elem_next_window - nbe + B - 2 (>= 0: the oldest buffered element is no
    //           longer needed by the next window); r_cur = cur - nbe + B - 2 (>= 0: nor by the
    //           current one); r_fetch = nbe - cur (>= 0: the element to fetch is buffered)
    reg signed [DW-1:0] r_first;
    reg signed [DW-1:0] r_cur;
    reg signed [DW-1:0] r_fetch;

    reg write_cmd;
    reg writing_done;
    reg fetching_done;

    wire write_ok = write_cmd && m_axis_tready;
    wire write_blocked = write_cmd && !m_axis_tready;
    wire fetch_cmd = !r_fetch[DW-1] && !write_blocked && !fetching_done;
    wire read_cmd = !reading_done && (fetching_done || (!r_first[DW-1] && !r_cur[DW-1]));
    wire read_ok = read_cmd && s_axis_tvalid;
    wire cur_last = cur == DW'(LAST_WRITE_ELEM);

    assign s_axis_tready = !rst && read_ok;
    assign m_axis_tvalid = !rst && write_cmd;
    assign m_axis_tdata = ram_out;

    // the events of one cycle (finn-rtllib's procedural order: read, fetch, write)
    wire read_rst = read_ok && reading_last && writing_done;       // next feature map (read side)
    wire write_rst = write_ok && fetching_done && (reading_done || (read_ok && reading_last));
    wire nbe_rst = read_rst || write_rst;
    wire step_cur = fetch_cmd && !cur_last;
    wire step_first = fetch_cmd && pos_zero;
    wire nbe_inc = read_ok;

    // the controller's next values (finn-rtllib swg_controller's loop nest as next-value wires),
    // so that the increments of the next cycle are registered one cycle ahead: every operand of
    // the additions below is a register, each update a mux and one carry chain
    wire e_simd = cnt_simd[SW_-1], e_kw = cnt_kw[KWW-1], e_kh = cnt_kh[KHW-1], e_w = cnt_w[WW_-1];
    wire a_simd = fetch_cmd && state == S_INNER;
    wire a_kw = a_simd && e_simd, a_kh = a_kw && e_kw, a_w = a_kh && e_kh, a_h = a_w && e_w;
    wire [SW_-1:0] simd_nx = rst ? S0 : !a_simd ? cnt_simd : !e_simd ? cnt_simd - 1'b1 : S0;
    wire [KWW-1:0] kw_nx = rst ? KW0 : !a_kw ? cnt_kw : !e_kw ? cnt_kw - 1'b1 : KW0;
    wire [KHW-1:0] kh_nx = rst ? KH0 : !a_kh ? cnt_kh : !e_kh ? cnt_kh - 1'b1 : KH0;
    wire [WW_-1:0] w_nx = rst ? W0 : !a_w ? cnt_w : !e_w ? cnt_w - 1'b1 : W0;
    wire [HW_-1:0] h_nx = rst ? H0 : !a_h ? cnt_h : !cnt_h[HW_-1] ? cnt_h - 1'b1 : H0;
    wire [2:0] state_nx = rst ? S_INNER : fetch_cmd ? state_next : state;
    wire kh_e = kh_nx[KHW-1], w_e = w_nx[WW_-1], h_e = h_nx[HW_-1];

    // head increment of the state (and -1, negated, 1 - it), tail increment (and -1); for the
    // read address the head increment, it - B and it + B
    reg signed [DW-1:0] hi, hi_m1, hi_neg, hi_neg1, ti, ti_m1;
    reg signed [AW+2:0] ra_inc, ra_inc_mb, ra_inc_pb;
    always @(posedge clk) begin
        state <= state_nx;
        cnt_simd <= simd_nx;
        cnt_kw <= kw_nx;
        cnt_kh <= kh_nx;
        cnt_w <= w_nx;
        cnt_h <= h_nx;
        hi <= DW'(head_incr(state_nx, 1, 0));
        hi_m1 <= DW'(head_incr(state_nx, 1, -1));
        hi_neg <= DW'(head_incr(state_nx, -1, 0));
        hi_neg1 <= DW'(head_incr(state_nx, -1, 1));
        ti <= DW'(tail_incr(kh_e, w_e, h_e, 0));
        ti_m1 <= DW'(tail_incr(kh_e, w_e, h_e, -1));
        ra_inc <= (AW + 3)'(head_incr(state_nx, 1, 0));
        ra_inc_mb <= (AW + 3)'(head_incr(state_nx, 1, -B));
        ra_inc_pb <= (AW + 3)'(head_incr(state_nx, 1, B));
    end

    // operands: increment - nbe_inc (r_cur), -(increment - nbe_inc) (r_fetch)
    wire signed [DW-1:0] d_cur = step_cur ? (nbe_inc ? hi_m1 : hi) : (nbe_inc ? ONES : '0);
    wire signed [DW-1:0] d_fetch = step_cur ? (nbe_inc ? hi_neg1 : hi_neg) : DW'(nbe_inc);
    wire signed [DW-1:0] d_first = step_first ? (nbe_inc ? ti_m1 : ti) : (nbe_inc ? ONES : '0);
    // cyclic read address: ra + incr, wrapped by -B or +B, the three computed side by side
    /* verilator lint_off UNUSEDSIGNAL */   // only the low bits and the sign of each sum are used
    wire signed [AW+2:0] ra_s = {3'b000, ra};
    wire signed [AW+2:0] ra_0 = ra_s + ra_inc;
    wire signed [AW+2:0] ra_hi = ra_s + ra_inc_mb;
    wire signed [AW+2:0] ra_lo = ra_s + ra_inc_pb;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [AW-1:0] ra_next = !ra_hi[AW+2] ? ra_hi[AW-1:0] : ra_0[AW+2] ? ra_lo[AW-1:0] : ra_0[AW-1:0];

    // one declaration per RAM_STYLE so that the synthesis attribute is a constant
    generate
        if (RAM_STYLE == "block") begin : g_ram_block
            (* ram_style = "block" *) reg [WIDTH-1:0] ram [0:BUF_ELEM_TOTAL-1];
            always @(posedge clk) begin
                if (fetch_cmd) ram_out <= ram[ra];
                if (read_ok) ram[wa] <= s_axis_tdata;
            end
        end else if (RAM_STYLE == "distributed") begin : g_ram_lut
            (* ram_style = "distributed" *) reg [WIDTH-1:0] ram [0:BUF_ELEM_TOTAL-1];
            always @(posedge clk) begin
                if (fetch_cmd) ram_out <= ram[ra];
                if (read_ok) ram[wa] <= s_axis_tdata;
            end
        end else if (RAM_STYLE == "auto") begin : g_ram_auto
            reg [WIDTH-1:0] ram [0:BUF_ELEM_TOTAL-1];
            always @(posedge clk) begin
                if (fetch_cmd) ram_out <= ram[ra];
                if (read_ok) ram[wa] <= s_axis_tdata;
            end
        end else begin : g_bad_ram_style
            // RAM_STYLE must be "block", "distributed" or "auto": no such module, elaboration stops
            swg_window_RAM_STYLE_must_be_block_distributed_or_auto u_bad ();
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            nbe <= '1;
            reading_last <= LAST_READ_ELEM == 0;
            reading_done <= 1'b0;
            cur <= 0;
            pos <= 0;
            pos_zero <= 1'b1;
            ra <= 0;
            wa <= 0;
            r_first <= BM1;
            r_cur <= BM1;
            r_fetch <= ONES;
            fetching_done <= 1'b0;
            write_cmd <= 1'b0;
            writing_done <= 1'b0;
        end else begin
            if (read_ok) begin
                wa <= (reading_last || wa == AW'(B - 1)) ? '0 : wa + 1'b1;
                if (read_rst) writing_done <= 1'b0;
            end
            if (fetch_cmd) begin
                ra <= ra_next;
                pos <= (pos == PW'(ELEM_PER_WINDOW - 1)) ? '0 : pos + 1'b1;
                pos_zero <= pos == PW'(ELEM_PER_WINDOW - 1);
                if (cur_last) fetching_done <= 1'b1;
                else cur <= cur + hi;
                write_cmd <= 1'b1;
            end
            if (write_ok) begin
                write_cmd <= fetch_cmd;
                if (fetching_done && !(reading_done || (read_ok && reading_last))) writing_done <= 1'b1;
            end
            // read_rst and a fetch never meet (writing_done implies fetching_done); write_rst
            // comes after the fetch in finn-rtllib's order: one reset block here is equivalent
            if (nbe_rst) begin
                cur <= 0;
                ra <= 0;
                fetching_done <= 1'b0;
                r_first <= BM1;
                r_cur <= BM1;
                r_fetch <= ONES;
            end else begin
                r_first <= r_first + d_first;
                r_cur <= r_cur + d_cur;
                r_fetch <= r_fetch + d_fetch;
            end
            nbe <= nbe_rst ? '1 : nbe + NW'(nbe_inc);
            reading_last <= nbe_rst ? LAST_READ_ELEM == 0 : !nbe_inc ? reading_last :
                ((~32'(nbe) & 32'(LAST_READ_ELEM - 2)) == 32'd0) && !reading_last && !nbe[NW-1];
            reading_done <= nbe_rst ? 1'b0 : !nbe_inc ? reading_done : reading_last;
        end
    end

`ifndef SYNTHESIS
    // simulation check: the difference registers equal their definitions
    reg signed [DW-1:0] first_elem;   // first element of the next window (finn-rtllib's counter)
    always @(posedge clk) begin
        if (rst || nbe_rst) first_elem <= 0;
        else if (step_first) first_elem <= first_elem + ti;
    end
    always @(posedge clk) begin
        if (!rst && (r_first != first_elem - DW'(nbe) + BM1 - 1'b1 || r_cur != cur - DW'(nbe) + BM1 - 1'b1 ||
                     r_fetch != DW'(nbe) - cur))
            $fatal(1, "swg_window %m: difference registers out of step (r_first %0d r_cur %0d r_fetch %0d)",
                   r_first, r_cur, r_fetch);
    end
`endif

endmodule

`default_nettype wire
