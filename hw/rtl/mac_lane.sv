// mac_lane: one multiply lane of the MVAU (unpacked) and the VVAU: the product x * w of one input
// element and one weight, registered.
//
// MAC_IMPL "dsp": `*` on sign-extended operands with use_dsp (one multiplier block per lane when
// synthesis maps it); OPERAND_STAGE = 1 registers the operands once more in front of the
// multiplier (one copy per multiplier, so the placer can put it beside its DSP block).
// MAC_IMPL "lut": hw/rtl/lut_mult.sv (LUT-6 digit tables and adders, never a DSP), the wider
// operand cut into digits. BINARY_XNOR = 1: the product of two bipolar 1-bit codes, XNOR.
//
// p is the product in two's complement at PROD_BITS (or the XNOR bit), loaded on prod_en; with
// OPERAND_STAGE the operands are loaded on op_en one cycle earlier.

`default_nettype none

module mac_lane #(
    parameter integer IN_BITS = 4,                  // bits of x (1 with BINARY_XNOR)
    parameter integer IN_SIGNED = 0,                // 1: x is two's complement
    parameter integer W_BITS = 4,                   // bits of w (1 with BINARY_XNOR)
    parameter integer W_SIGNED = 1,                 // 1: w is two's complement
    parameter integer BINARY_XNOR = 0,              // 1: p = XNOR of the codes' bit 0 (PROD_BITS 1)
    parameter MAC_IMPL = "lut",                     // "dsp" (`*`, use_dsp) or "lut" (lut_mult)
    parameter integer PROD_BITS = IN_BITS + W_BITS, // bits of p (wraps around when narrower)
    parameter integer OPERAND_STAGE = 0             // 1 (MAC_IMPL "dsp"): operand register before `*`
) (
    input  wire                 clk,
    input  wire                 op_en,    // loads the operand register (OPERAND_STAGE = 1)
    input  wire                 prod_en,  // loads the product register p
    input  wire [IN_BITS-1:0]   x,
    input  wire [W_BITS-1:0]    w,
    output reg  [PROD_BITS-1:0] p
);

    generate
        if (BINARY_XNOR != 0) begin : g_xnor
            always @(posedge clk) begin
                if (prod_en) p <= ~(x[0] ^ w[0]);
            end
            wire unused_xnor = ^{op_en, x, w};  // IN_BITS = W_BITS = PROD_BITS = 1 expected
            if (PROD_BITS != 1) begin : g_bad_xnor
                mac_lane_BINARY_XNOR_needs_PROD_BITS_1 u_bad ();
            end
        end else if (MAC_IMPL == "dsp") begin : g_dsp
            wire signed [IN_BITS:0] xs = {(IN_SIGNED != 0) && x[IN_BITS-1], x};
            wire signed [W_BITS:0]  ws = {(W_SIGNED != 0) && w[W_BITS-1], w};
            wire signed [IN_BITS:0] xm;  // the multiplier's operands
            wire signed [W_BITS:0]  wm;
            if (OPERAND_STAGE != 0) begin : g_op_reg
                reg signed [IN_BITS:0] xq;
                reg signed [W_BITS:0]  wq;
                always @(posedge clk) begin
                    if (op_en) begin
                        xq <= xs;
                        wq <= ws;
                    end
                end
                assign xm = xq;
                assign wm = wq;
            end else begin : g_op_wire
                assign xm = xs;
                assign wm = ws;
                wire unused_op_en = op_en;
            end
            (* use_dsp = "yes" *) wire signed [PROD_BITS-1:0] m;
            assign m = xm * wm;
            always @(posedge clk) begin
                if (prod_en) p <= m;
            end
        end else begin : g_lut
            wire [PROD_BITS-1:0] m;
            if (W_BITS > IN_BITS) begin : g_cut_w
                lut_mult #(.A_BITS(W_BITS), .A_SIGNED(W_SIGNED), .B_BITS(IN_BITS), .B_SIGNED(IN_SIGNED),
                           .P_BITS(PROD_BITS)) u_mul (.a(w), .b(x), .p(m));
            end else begin : g_cut_x
                lut_mult #(.A_BITS(IN_BITS), .A_SIGNED(IN_SIGNED), .B_BITS(W_BITS), .B_SIGNED(W_SIGNED),
                           .P_BITS(PROD_BITS)) u_mul (.a(x), .b(w), .p(m));
            end
            always @(posedge clk) begin
                if (prod_en) p <= m;
            end
            wire unused_op_en = op_en;
        end
        if (OPERAND_STAGE != 0 && (MAC_IMPL != "dsp" || BINARY_XNOR != 0)) begin : g_bad_stage
            // the operand stage exists for DSP products only
            mac_lane_OPERAND_STAGE_needs_MAC_IMPL_dsp u_bad ();
        end
    endgenerate

endmodule

`default_nettype wire
