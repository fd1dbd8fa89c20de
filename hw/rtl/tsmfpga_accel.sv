// tsmfpga_accel: board-level wrapper of the stitched accelerator, packaged as Vivado IP.
//
// Interfaces (names follow Vivado's interface inference: ap_clk/ap_rst_n, s_axi_ctrl, s_axis,
// m_axis):
//   s_axi_ctrl  AXI-Lite slave, 32-bit data, 6-bit address: registers of tsmfpga_ctrl (the
//               register map is documented there).
//   s_axis      input stream from the DMA, IN_BYTES bytes per beat; the top takes the low
//               IN_W bits. tlast from the DMA is ignored: input frames are IN_FRAME_BEATS beats.
//               The clip-start flag (the top's s_axis_tuser) comes from the CTRL register, and
//               with STREAM_BITS > 0 the stream id (the top's s_axis_tdest) from the STREAM
//               register (the DMA carries no sideband); the top's m_axis_tdest of each output
//               frame is readable as OUT_STREAM (frames leave in input order).
//   m_axis      output stream to the DMA, OUT_BYTES bytes per beat (OUT_W bits of the top,
//               zero-padded), tkeep all ones, tlast on the last beat of each output frame.
// Reset: ap_rst_n is active low and synchronous (e.g. proc_sys_reset's peripheral_aresetn).
//
// IN_W, OUT_W, IN_FRAME_BEATS and OUT_FRAME_BEATS must match the stitched top (manifest.json
// "input"/"output"); IN_BYTES = ceil(IN_W/8), OUT_BYTES = a power of two >= ceil(OUT_W/8).
//
// WITH_CORE must be 1 in every real use (the generated Vivado project and the testbench set
// it): it instantiates tsmfpga_ctrl and tsmfpga_top. With the default 0 neither is
// instantiated and all outputs are tied to 0 (the AXI-Lite port does not answer). That mode
// only exists so this file elaborates on its own, without the generated tsmfpga_top, for the
// per-file lint of hw/rtl (tests/hw/test_rtl_lint.py).

`default_nettype none

module tsmfpga_accel #(
    parameter integer IN_W            = 8,   // tdata width of tsmfpga_top's input
    parameter integer OUT_W           = 8,   // tdata width of tsmfpga_top's output
    parameter integer IN_FRAME_BEATS  = 4,   // beats per input frame
    parameter integer OUT_FRAME_BEATS = 4,   // beats per output frame
    parameter integer IN_BYTES        = (IN_W + 7) / 8,  // bytes per input beat (DMA side)
    parameter integer OUT_BYTES       = 1,   // bytes per output beat, power of two
    parameter integer WITH_CORE       = 0,   // 1: instantiate ctrl + top (see above)
    parameter integer STREAM_BITS     = 0    // stream id width of a multi-stream top (0: one stream)
) (
    input  wire                   ap_clk,
    input  wire                   ap_rst_n,   // synchronous, active low

    input  wire [5:0]             s_axi_ctrl_awaddr,
    input  wire                   s_axi_ctrl_awvalid,
    output wire                   s_axi_ctrl_awready,
    input  wire [31:0]            s_axi_ctrl_wdata,
    input  wire [3:0]             s_axi_ctrl_wstrb,
    input  wire                   s_axi_ctrl_wvalid,
    output wire                   s_axi_ctrl_wready,
    output wire [1:0]             s_axi_ctrl_bresp,
    output wire                   s_axi_ctrl_bvalid,
    input  wire                   s_axi_ctrl_bready,
    input  wire [5:0]             s_axi_ctrl_araddr,
    input  wire                   s_axi_ctrl_arvalid,
    output wire                   s_axi_ctrl_arready,
    output wire [31:0]            s_axi_ctrl_rdata,
    output wire [1:0]             s_axi_ctrl_rresp,
    output wire                   s_axi_ctrl_rvalid,
    input  wire                   s_axi_ctrl_rready,

    input  wire [IN_BYTES*8-1:0]  s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,   // ignored (frames are counted)

    output wire [OUT_BYTES*8-1:0] m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast,
    output wire [OUT_BYTES-1:0]   m_axis_tkeep
);

    localparam integer OUT_PW = OUT_BYTES * 8;

    wire rst = !ap_rst_n;

    assign m_axis_tkeep = {OUT_BYTES{1'b1}};

    generate
        if (WITH_CORE != 0) begin : g_core
            wire             top_s_tready;
            wire             top_s_tuser;
            wire [OUT_W-1:0] top_m_tdata;
            wire             top_m_tvalid;
            wire             top_m_tlast;
            wire             top_error;
            localparam integer SW = (STREAM_BITS > 0) ? STREAM_BITS : 1;
            wire [SW-1:0]    top_s_tdest;
            wire [SW-1:0]    top_m_tdest;

            /* verilator lint_off MODMISSING */
            // a one-stream tsmfpga_top has no tdest ports: that branch is never elaborated
            /* verilator lint_off PINNOTFOUND */
            if (STREAM_BITS > 0) begin : g_top_streams
                tsmfpga_top u_top (
                    .clk           (ap_clk),
                    .rst           (rst),
                    .s_axis_tdata  (s_axis_tdata[IN_W-1:0]),
                    .s_axis_tvalid (s_axis_tvalid),
                    .s_axis_tready (top_s_tready),
                    .s_axis_tuser  (top_s_tuser),
                    .s_axis_tdest  (top_s_tdest),
                    .m_axis_tdata  (top_m_tdata),
                    .m_axis_tvalid (top_m_tvalid),
                    .m_axis_tready (m_axis_tready),
                    .m_axis_tlast  (top_m_tlast),
                    .m_axis_tdest  (top_m_tdest),
                    .status_error  (top_error)
                );
            end else begin : g_top
                tsmfpga_top u_top (
                    .clk           (ap_clk),
                    .rst           (rst),
                    .s_axis_tdata  (s_axis_tdata[IN_W-1:0]),
                    .s_axis_tvalid (s_axis_tvalid),
                    .s_axis_tready (top_s_tready),
                    .s_axis_tuser  (top_s_tuser),
                    .m_axis_tdata  (top_m_tdata),
                    .m_axis_tvalid (top_m_tvalid),
                    .m_axis_tready (m_axis_tready),
                    .m_axis_tlast  (top_m_tlast),
                    .status_error  (top_error)
                );
                /* verilator lint_on PINNOTFOUND */
                assign top_m_tdest = 1'b0;
                wire unused_tdest = &{1'b0, top_s_tdest};
            end

            tsmfpga_ctrl #(
                .IN_FRAME_BEATS  (IN_FRAME_BEATS),
                .OUT_FRAME_BEATS (OUT_FRAME_BEATS),
                .STREAM_BITS     (STREAM_BITS)
            ) u_ctrl (
                .clk           (ap_clk),
                .rst           (rst),
                .s_axi_awaddr  (s_axi_ctrl_awaddr),
                .s_axi_awvalid (s_axi_ctrl_awvalid),
                .s_axi_awready (s_axi_ctrl_awready),
                .s_axi_wdata   (s_axi_ctrl_wdata),
                .s_axi_wstrb   (s_axi_ctrl_wstrb),
                .s_axi_wvalid  (s_axi_ctrl_wvalid),
                .s_axi_wready  (s_axi_ctrl_wready),
                .s_axi_bresp   (s_axi_ctrl_bresp),
                .s_axi_bvalid  (s_axi_ctrl_bvalid),
                .s_axi_bready  (s_axi_ctrl_bready),
                .s_axi_araddr  (s_axi_ctrl_araddr),
                .s_axi_arvalid (s_axi_ctrl_arvalid),
                .s_axi_arready (s_axi_ctrl_arready),
                .s_axi_rdata   (s_axi_ctrl_rdata),
                .s_axi_rresp   (s_axi_ctrl_rresp),
                .s_axi_rvalid  (s_axi_ctrl_rvalid),
                .s_axi_rready  (s_axi_ctrl_rready),
                .in_beat       (s_axis_tvalid && top_s_tready),
                .out_beat      (top_m_tvalid && m_axis_tready),
                .out_last      (top_m_tlast),
                .status_error  (top_error),
                .clip_tuser    (top_s_tuser),
                .stream_id     (top_s_tdest),
                .out_tdest     (top_m_tdest)
            );
            /* verilator lint_on MODMISSING */

            assign s_axis_tready = top_s_tready;
            assign m_axis_tdata  = OUT_PW'(top_m_tdata);
            assign m_axis_tvalid = top_m_tvalid;
            assign m_axis_tlast  = top_m_tlast;
        end else begin : g_no_core
            // lint-only shell: nothing is connected (see the header)
            assign s_axi_ctrl_awready = 1'b0;
            assign s_axi_ctrl_wready  = 1'b0;
            assign s_axi_ctrl_bresp   = 2'b00;
            assign s_axi_ctrl_bvalid  = 1'b0;
            assign s_axi_ctrl_arready = 1'b0;
            assign s_axi_ctrl_rdata   = 32'd0;
            assign s_axi_ctrl_rresp   = 2'b00;
            assign s_axi_ctrl_rvalid  = 1'b0;
            assign s_axis_tready      = 1'b0;
            assign m_axis_tdata       = {OUT_PW{1'b0}};
            assign m_axis_tvalid      = 1'b0;
            assign m_axis_tlast       = 1'b0;
            /* verilator lint_off UNUSEDPARAM */
            localparam integer UNUSED_BEATS = IN_FRAME_BEATS + OUT_FRAME_BEATS;
            /* verilator lint_on UNUSEDPARAM */
            wire unused_no_core = &{1'b0, ap_clk, rst, s_axi_ctrl_awaddr, s_axi_ctrl_awvalid,
                                    s_axi_ctrl_wdata, s_axi_ctrl_wstrb, s_axi_ctrl_wvalid,
                                    s_axi_ctrl_bready, s_axi_ctrl_araddr, s_axi_ctrl_arvalid,
                                    s_axi_ctrl_rready, s_axis_tdata, s_axis_tvalid,
                                    m_axis_tready};
        end
    endgenerate

    // the DMA's tlast carries no information here; input bits above IN_W are padding
    wire unused_ok = &{1'b0, s_axis_tlast};
    if (IN_BYTES * 8 > IN_W) begin : g_in_pad
        wire unused_pad = &{1'b0, s_axis_tdata[IN_BYTES*8-1:IN_W]};
    end

endmodule

`default_nettype wire
