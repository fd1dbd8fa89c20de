// mac_packed: one dot-product-packed multiplier of the MVAU (DSP_LANES > 1): LANES input
// elements and LANES weights in one product, whose field LANES-1 is sum_q x_q * u_q.
//
// The inputs are packed in reversed lane order into Xp = sum_q x_q << ((LANES-1-q) * PK_S), the
// offset-binary weights u_q = w_q ^ WFLIP into Up = sum_q u_q << (q * PK_S); field LANES-1 of
// Xp * Up (bits [(LANES-1)*PK_S +: PK_S]) is then the group's dot product, exact because every
// field is PK_S = IN_BITS + W_BITS + clog2(LANES) bits wide and the inputs are unsigned (no
// borrows between fields). The caller removes the weight offset (2**(W_BITS-1) * sum x).
// Lanes past NLANES (a last, partial group) are zero.
//
// Registers: operands on op_en (one copy per multiplier, beside its DSP block), the whole
// product on prod_en (the DSP's own output register), field LANES-1 as p on leaf_en.

`default_nettype none

module mac_packed #(
    parameter integer IN_BITS = 4,     // bits of an input element (unsigned)
    parameter integer W_BITS = 4,      // bits of a weight
    parameter integer W_SIGNED = 1,    // 1: weights are two's complement (offset binary inside)
    parameter integer LANES = 2,       // lanes per multiplier (>= 2)
    parameter integer NLANES = LANES,  // lanes in use (1..LANES; the others are zero)
    parameter integer PK_S = IN_BITS + W_BITS + $clog2(LANES)  // packed field width
) (
    input  wire                      clk,
    input  wire                      op_en,    // loads the operand registers
    input  wire                      prod_en,  // loads the product register
    input  wire                      leaf_en,  // loads p
    input  wire [NLANES*IN_BITS-1:0] x,        // lane q at [q*IN_BITS +: IN_BITS]
    input  wire [NLANES*W_BITS-1:0]  w,        // lane q at [q*W_BITS +: W_BITS]
    output reg  [PK_S-1:0]           p         // sum_q x_q * u_q
);

    localparam integer XP_W = (LANES - 1) * PK_S + IN_BITS;  // packed inputs
    localparam integer UP_W = (LANES - 1) * PK_S + W_BITS;   // packed offset-binary weights
    localparam integer WFLIP_I = (W_SIGNED != 0) ? (1 << (W_BITS - 1)) : 0;
    localparam [W_BITS-1:0] WFLIP = WFLIP_I[W_BITS-1:0];     // sign bit of a weight: offset binary

    /* verilator lint_off UNUSEDSIGNAL */
    wire [LANES*PK_S-1:0] xf, uf;  // fields of Xp (reversed lanes) and Up; the top one's upper bits are 0
    /* verilator lint_on UNUSEDSIGNAL */
    genvar q;
    generate
        for (q = 0; q < LANES; q = q + 1) begin : g_pk
            if (q < NLANES) begin : g_on
                assign xf[(LANES-1-q)*PK_S +: PK_S] = {{(PK_S-IN_BITS){1'b0}}, x[q*IN_BITS +: IN_BITS]};
                assign uf[q*PK_S +: PK_S] = {{(PK_S-W_BITS){1'b0}}, w[q*W_BITS +: W_BITS] ^ WFLIP};
            end else begin : g_off
                assign xf[(LANES-1-q)*PK_S +: PK_S] = {PK_S{1'b0}};
                assign uf[q*PK_S +: PK_S] = {PK_S{1'b0}};
            end
        end
        if (LANES < 2 || NLANES < 1 || NLANES > LANES) begin : g_bad_lanes
            mac_packed_needs_2_or_more_LANES_and_1_to_LANES_in_use u_bad ();
        end
    endgenerate

    /* verilator lint_off UNUSEDSIGNAL */
    wire [XP_W-1:0] xp = xf[XP_W-1:0];
    wire [UP_W-1:0] up = uf[UP_W-1:0];
    reg [XP_W-1:0] xq;
    reg [UP_W-1:0] uq;
    (* use_dsp = "yes" *) wire [XP_W+UP_W-1:0] m;
    assign m = xq * uq;
    reg [XP_W+UP_W-1:0] pa;  // the whole product; only field LANES-1 is used
    /* verilator lint_on UNUSEDSIGNAL */

    always @(posedge clk) begin
        if (op_en) begin
            xq <= xp;
            uq <= up;
        end
        if (prod_en) pa <= m;
        if (leaf_en) p <= pa[(LANES-1)*PK_S +: PK_S];
    end

endmodule

`default_nettype wire
