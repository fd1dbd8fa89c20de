// lut_mult: combinational product a * b in LUT-6 tables and carry-chain adders, never a DSP.
//
// a is cut into NDIG digits of D = max(1, 6 - B_BITS) bits (digit k = a[k*D +: D]; the top digit
// holds the remaining bits and is two's complement when A_SIGNED, the others are unsigned). A
// digit times b depends on at most 6 input bits, so it is a table read: a constant (computed at
// elaboration) indexed by {digit, b}, which synthesis maps to one LUT-6 per bit of the digit
// product, with no adder. The NDIG digit products are then added with their shifts (for 4-bit b:
// 2-bit digits, a 4 x 4 product is two 6-bit table reads and one adder; for 2-bit b a 2- to 4-bit
// a is a single table read). b is two's complement when B_SIGNED.
//
// p is the exact product a * b in two's complement (zero-extended when neither operand is
// signed) at P_BITS bits, wrapping around when P_BITS is narrower than the product.

`default_nettype none

module lut_mult #(
    parameter integer A_BITS = 4,                  // bits of a, the operand cut into digits
    parameter integer A_SIGNED = 0,                // 1: a is two's complement
    parameter integer B_BITS = 4,                  // bits of b (the table's other index)
    parameter integer B_SIGNED = 1,                // 1: b is two's complement
    parameter integer P_BITS = A_BITS + B_BITS + 2 // bits of the product output
) (
    input  wire [A_BITS-1:0] a,
    input  wire [B_BITS-1:0] b,
    output wire [P_BITS-1:0] p
);

    localparam integer D = (B_BITS < 5) ? 6 - B_BITS : 1;   // digit width
    localparam integer NDIG = (A_BITS + D - 1) / D;          // digits
    localparam integer DT = A_BITS - (NDIG - 1) * D;         // top digit width (1 .. D)
    localparam integer TW = D + B_BITS + 1;                  // digit-product width (signed)
    localparam integer ENTRIES = 1 << (D + B_BITS);          // table rows (index {digit, b})
    localparam integer SW = (A_BITS + B_BITS + 2 > TW) ? A_BITS + B_BITS + 2 : TW;  // sum width (signed)
    localparam integer SIGNED_OUT = (A_SIGNED != 0 || B_SIGNED != 0) ? 1 : 0;

    // table of digit * b for a digit of dw bits (two's complement when dsigned), stored by
    // column: bit j of row {digit, b} at [j*ENTRIES + row] (a top digit narrower than D uses the
    // rows of its low dw bits only)
    function automatic [ENTRIES*TW-1:0] make_columns(input integer dw, input integer dsigned);
        integer i, j, dv, bv;
        /* verilator lint_off UNUSEDSIGNAL */
        integer prod;  // the low TW bits are the two's complement digit product
        /* verilator lint_on UNUSEDSIGNAL */
        begin
            make_columns = {ENTRIES*TW{1'b0}};
            for (i = 0; i < (1 << (dw + B_BITS)); i = i + 1) begin
                dv = i >> B_BITS;
                if (dsigned != 0 && dv >= (1 << (dw - 1))) dv = dv - (1 << dw);
                bv = i % (1 << B_BITS);
                if (B_SIGNED != 0 && bv >= (1 << (B_BITS - 1))) bv = bv - (1 << B_BITS);
                prod = dv * bv;
                for (j = 0; j < TW; j = j + 1) begin
                    make_columns[j*ENTRIES + i] = prod[j];
                end
            end
        end
    endfunction

    localparam [ENTRIES*TW-1:0] COL_LOW = make_columns(D, 0);          // unsigned digits
    localparam [ENTRIES*TW-1:0] COL_TOP = make_columns(DT, A_SIGNED);  // the top digit

    // digit products, digit k at [k*TW +: TW]: each bit an OR over the rows it is 1 in, of the
    // row decode (a function of the digit's and b's <= 6 bits: one LUT-6; written as logic, not
    // as a mux, so that no synthesis option turns it into a tree of wide multiplexers)
    wire [NDIG*TW-1:0] pp;
    genvar k, r, j2;
    generate
        for (k = 0; k < NDIG; k = k + 1) begin : g_digit
            localparam integer DW = (k == NDIG - 1) ? DT : D;
            localparam integer NR = 1 << (DW + B_BITS);  // rows of this digit's table
            wire [DW-1:0] dg = a[k*D +: DW];
            wire [DW+B_BITS-1:0] row = {dg, b};
            wire [NR-1:0] hit;  // one-hot row decode
            for (r = 0; r < NR; r = r + 1) begin : g_row
                assign hit[r] = (row == r);
            end
            for (j2 = 0; j2 < TW; j2 = j2 + 1) begin : g_bit
                localparam [ENTRIES*TW-1:0] COLS = (k == NDIG - 1) ? COL_TOP : COL_LOW;
                localparam [NR-1:0] COL = COLS[j2*ENTRIES +: NR];
                assign pp[k*TW + j2] = |(COL & hit);
            end
        end
    endgenerate

    // sum of the digit products, digit k weighted 2**(k*D): a balanced tree. A level-l node sums
    // 2**l neighbouring digits relative to its lowest one, exactly, in NW(l) bits; the right
    // child's weight puts it SH = 2**(l-1)*D bits up, so the low SH bits of the left child pass
    // through and only the bits above them are added (no carry chain over constant zeros).
    localparam integer NL = (NDIG > 1) ? $clog2(NDIG) : 0;  // tree levels
    localparam integer NWMAX = TW + ((1 << NL) - 1) * D + NL;
    function automatic integer nw(input integer l);
        nw = TW + ((1 << l) - 1) * D + l;
    endfunction
    /* verilator lint_off UNUSEDSIGNAL */
    wire [NDIG*NWMAX-1:0] sv [0:NL];  // level l: node n at [n*NWMAX +: nw(l)] (the rest unused)
    /* verilator lint_on UNUSEDSIGNAL */
    genvar l, n;
    generate
        for (k = 0; k < NDIG; k = k + 1) begin : g_term
            if (NWMAX > TW) begin : g_pad
                assign sv[0][k*NWMAX +: NWMAX] = {{(NWMAX-TW){1'b0}}, pp[k*TW +: TW]};
            end else begin : g_full
                assign sv[0][k*NWMAX +: NWMAX] = pp[k*TW +: TW];
            end
        end
        for (l = 1; l <= NL; l = l + 1) begin : g_level
            localparam integer WC = nw(l - 1);   // child width
            localparam integer WN = nw(l);       // node width
            localparam integer SH = (1 << (l - 1)) * D;
            localparam integer NP = (NDIG + (1 << (l - 1)) - 1) >> (l - 1);  // nodes below
            for (n = 0; n < NDIG; n = n + 1) begin : g_node
                wire [WN-1:0] node;
                if (2 * n + 1 < NP) begin : g_add
                    wire [WC-1:0] a_c = sv[l-1][(2*n)*NWMAX +: WC];
                    wire [WC-1:0] b_c = sv[l-1][(2*n+1)*NWMAX +: WC];
                    wire [WN-SH-1:0] a_hi = {{(WN-WC){a_c[WC-1]}}, a_c[WC-1:SH]};
                    wire [WN-SH-1:0] b_x = {{(WN-SH-WC){b_c[WC-1]}}, b_c};
                    assign node = {a_hi + b_x, a_c[SH-1:0]};
                end else if (2 * n < NP) begin : g_pass
                    wire [WC-1:0] a_c = sv[l-1][(2*n)*NWMAX +: WC];
                    assign node = {{(WN-WC){a_c[WC-1]}}, a_c};
                end else begin : g_none
                    assign node = {WN{1'b0}};
                end
                if (NWMAX > WN) begin : g_pad
                    assign sv[l][n*NWMAX +: NWMAX] = {{(NWMAX-WN){1'b0}}, node};
                end else begin : g_full
                    assign sv[l][n*NWMAX +: NWMAX] = node;
                end
            end
        end
    endgenerate
    localparam integer WR = nw(NL);
    wire [WR-1:0] root = sv[NL][WR-1:0];
    wire [SW-1:0] sum;
    generate
        if (WR >= SW) begin : g_root_cut
            assign sum = root[SW-1:0];  // the exact product fits SW bits
            if (WR > SW) begin : g_unused
                wire unused_root = ^root[WR-1:SW];
            end
        end else begin : g_root_ext
            assign sum = {{(SW-WR){root[WR-1]}}, root};
        end
    endgenerate

    generate
        if (P_BITS > SW) begin : g_ext
            assign p = {{(P_BITS-SW){(SIGNED_OUT != 0) && sum[SW-1]}}, sum};
        end else begin : g_cut
            assign p = sum[P_BITS-1:0];
            if (P_BITS < SW) begin : g_unused
                wire unused_hi = ^sum[SW-1:P_BITS];
            end
        end
    endgenerate

endmodule

`default_nettype wire
