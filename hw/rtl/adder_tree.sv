// adder_tree: pipelined sum of N leaves, each level only as wide as its sums need.
//
// The root is the sum of the N leaves of in_data (leaf i at [i*IN_BITS +: IN_BITS], two's
// complement when IN_SIGNED, unsigned otherwise) in OUT_BITS bits, wrap-around: exact whenever
// the sum fits OUT_BITS, which the caller guarantees. Level l (1 .. L = clog2(N)) adds pairs of
// level l-1 in min(IN_BITS + l, OUT_BITS) bits (a node without a partner passes through), so the
// carry chains grow one bit per level instead of being OUT_BITS wide from the leaves up (synthesis
// cannot narrow a sign-extended add by itself).
//
// Timing: levels 2, 4, ... and the root level L are registered, STAGES = ceil(L / 2) register
// stages (0 for N = 1: the root is the leaf, combinational). A register stage loads only when the
// step it holds arrives (in_valid delayed by the stages before it), a local clock enable, not a
// stall: idle cycles change nothing. in_data is taken in the cycle in_valid is high and the root
// of that step is on out_data STAGES cycles later (until the next step reaches the root).
//
// STAGES is a parameter the caller computes for its own pipeline bookkeeping; a value other than
// ceil(clog2(N) / 2) is an elaboration error, so the caller and the tree cannot disagree.

`default_nettype none

module adder_tree #(
    parameter integer N = 4,          // leaves (>= 1)
    parameter integer IN_BITS = 8,    // bits per leaf
    parameter integer IN_SIGNED = 1,  // 1: leaves are two's complement, 0: unsigned
    parameter integer OUT_BITS = 10,  // root width (sum wraps around to it)
    parameter integer STAGES = 1      // register stages: must be ceil(clog2(N) / 2)
) (
    input  wire                  clk,
    input  wire                  in_valid,  // a step enters (in_data holds its leaves)
    input  wire [N*IN_BITS-1:0]  in_data,
    output wire [OUT_BITS-1:0]   out_data
);

    localparam integer L = (N > 1) ? $clog2(N) : 0;  // levels
    localparam integer TS = (L + 1) / 2;              // register stages
    localparam integer W0 = (IN_BITS < OUT_BITS) ? IN_BITS : OUT_BITS;  // leaf width used

    // width of level l's nodes
    function automatic integer lw(input integer l);
        lw = (IN_BITS + l < OUT_BITS) ? IN_BITS + l : OUT_BITS;
    endfunction

    // nodes of level l
    function automatic integer ln(input integer l);
        ln = (N + (1 << l) - 1) >> l;
    endfunction

    genvar l, s;
    generate
        if (N < 1) begin : g_bad_n
            adder_tree_N_must_be_at_least_1 u_bad ();
        end
        if (STAGES != TS) begin : g_bad_stages
            // the caller's pipeline assumes another depth than this tree has
            adder_tree_STAGES_must_be_ceil_clog2_N_over_2 u_bad ();
        end
    endgenerate

    // valid of the step each register stage receives: vd[k] = in_valid delayed k register stages
    wire [TS:0] vd;
    assign vd[0] = in_valid;
    generate
        for (s = 1; s <= TS; s = s + 1) begin : g_vd
            reg v_r;
            always @(posedge clk) begin
                v_r <= vd[s-1];
            end
            assign vd[s] = v_r;
        end
    endgenerate

    // lv[l]: level l's nodes at a stride of OUT_BITS (node s at [s*OUT_BITS +: lw(l)])
    /* verilator lint_off UNUSEDSIGNAL */
    wire [N*OUT_BITS-1:0] lv [0:L];  // bits above a node's width and beyond its level's nodes are 0
    /* verilator lint_on UNUSEDSIGNAL */

    generate
        for (s = 0; s < N; s = s + 1) begin : g_leaf
            if (W0 < OUT_BITS) begin : g_pad
                assign lv[0][s*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-W0){1'b0}}, in_data[s*IN_BITS +: W0]};
            end else begin : g_full
                assign lv[0][s*OUT_BITS +: OUT_BITS] = in_data[s*IN_BITS +: OUT_BITS];
            end
            if (IN_BITS > W0) begin : g_unused
                wire unused_hi = ^in_data[s*IN_BITS + W0 +: IN_BITS - W0];  // wraps away
            end
        end
        for (l = 1; l <= L; l = l + 1) begin : g_level
            localparam integer WP = lw(l - 1);  // child width
            localparam integer WL = lw(l);      // node width (WP or WP + 1)
            localparam integer NL = ln(l);
            localparam integer NP = ln(l - 1);
            wire [NL*WL-1:0] sum;
            for (s = 0; s < NL; s = s + 1) begin : g_node
                wire [WP-1:0] a = lv[l-1][(2*s)*OUT_BITS +: WP];
                wire          a_ext = (IN_SIGNED != 0) && a[WP-1];
                wire [WL-1:0] ax;
                if (WL > WP) begin : g_ext
                    assign ax = {a_ext, a};
                end else begin : g_same
                    assign ax = a;
                    wire unused_ext = a_ext;
                end
                if (2 * s + 1 < NP) begin : g_add
                    wire [WP-1:0] b = lv[l-1][(2*s+1)*OUT_BITS +: WP];
                    wire [WL-1:0] bx;
                    if (WL > WP) begin : g_ext
                        assign bx = {(IN_SIGNED != 0) && b[WP-1], b};
                    end else begin : g_same
                        assign bx = b;
                    end
                    assign sum[s*WL +: WL] = ax + bx;
                end else begin : g_pass
                    assign sum[s*WL +: WL] = ax;  // no partner at this level
                end
            end
            wire [NL*WL-1:0] node;
            if (l % 2 == 0 || l == L) begin : g_reg
                reg [NL*WL-1:0] q_r;
                always @(posedge clk) begin
                    if (vd[(l + 1) / 2 - 1]) q_r <= sum;
                end
                assign node = q_r;
            end else begin : g_comb
                assign node = sum;
            end
            for (s = 0; s < N; s = s + 1) begin : g_store
                if (s < NL) begin : g_on
                    if (WL < OUT_BITS) begin : g_pad
                        assign lv[l][s*OUT_BITS +: OUT_BITS] = {{(OUT_BITS-WL){1'b0}}, node[s*WL +: WL]};
                    end else begin : g_full
                        assign lv[l][s*OUT_BITS +: OUT_BITS] = node[s*WL +: WL];
                    end
                end else begin : g_off
                    assign lv[l][s*OUT_BITS +: OUT_BITS] = {OUT_BITS{1'b0}};
                end
            end
        end
    endgenerate

    // the root, sign- or zero-extended from its level's width to OUT_BITS
    localparam integer WR = lw(L);
    wire [WR-1:0] root = lv[L][WR-1:0];
    generate
        if (WR < OUT_BITS) begin : g_root_ext
            assign out_data = {{(OUT_BITS-WR){(IN_SIGNED != 0) && root[WR-1]}}, root};
        end else begin : g_root
            assign out_data = root;
        end
    endgenerate

    wire unused_vd = vd[TS];  // the root register's own valid is not needed

endmodule

`default_nettype wire
