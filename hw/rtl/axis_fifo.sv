// axis_fifo: synchronous AXI-Stream FIFO used between dataflow layers.
//
// First-word-fall-through: a memory of 2**ADDR_WIDTH entries read synchronously into an
// output register, so the storage maps to distributed or block RAM and m_axis_* come
// straight from flip-flops. Capacity is 2**ADDR_WIDTH + 1 beats (memory + output register).
// s_axis_tready depends only on state (never combinationally on m_axis_tready).

`default_nettype none

module axis_fifo #(
    parameter integer DATA_WIDTH = 8,  // width of tdata in bits
    parameter integer USER_WIDTH = 1,  // width of tuser in bits (clip-start sideband)
    parameter integer ADDR_WIDTH = 4   // log2 of the memory depth; capacity = 2**ADDR_WIDTH + 1
) (
    input  wire                  clk,
    input  wire                  rst,  // synchronous, active high

    input  wire [DATA_WIDTH-1:0] s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,
    input  wire                  s_axis_tlast,
    input  wire [USER_WIDTH-1:0] s_axis_tuser,

    output wire [DATA_WIDTH-1:0] m_axis_tdata,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready,
    output wire                  m_axis_tlast,
    output wire [USER_WIDTH-1:0] m_axis_tuser
);

    localparam integer DEPTH = 1 << ADDR_WIDTH;
    localparam integer WORD = DATA_WIDTH + USER_WIDTH + 1;

    reg [WORD-1:0] mem [0:DEPTH-1];
    reg [ADDR_WIDTH-1:0] wr_ptr;
    reg [ADDR_WIDTH-1:0] rd_ptr;
    reg [WORD-1:0] out_word;
    reg out_valid;
    // beats in the memory, and the full / empty flags of that count as registers of their own:
    // s_axis_tready and the read enable come straight from flip-flops, not through a pointer
    // subtract. The next values are computed from the registers alone (fill +- 1 and its
    // compares) and only selected by push / pop, which arrive late (the producer's tvalid, the
    // consumer's tready): a push reaches the flags through a mux, not through an adder (that
    // adder was the critical path of the reference design on ECP5)
    reg [ADDR_WIDTH:0] fill;
    reg full;
    reg empty;
    wire push = s_axis_tvalid && !full;
    wire pop = !empty && (!out_valid || m_axis_tready);
    wire up = push && !pop;     // one beat more in the memory
    wire down = pop && !push;   // one beat less
    wire [ADDR_WIDTH:0] fill_inc = fill + 1'b1;
    wire [ADDR_WIDTH:0] fill_dec = fill - 1'b1;
    wire fill_one = fill == {{ADDR_WIDTH{1'b0}}, 1'b1};
`ifdef TSMFPGA_FIFO_LIMIT
    // simulation only (the FIFO sizing build): +fifo_limit_<hierarchical name>=N keeps at most
    // N <= 2**ADDR_WIDTH beats in the memory, so one build measures many depths
    integer limit;
    string limit_key;
    initial begin
        limit_key = $sformatf("fifo_limit_%m=%%d");
        if (!$value$plusargs(limit_key, limit)) limit = DEPTH;
    end
    wire full_inc = {{(31 - ADDR_WIDTH){1'b0}}, fill_inc} >= limit;
    wire full_dec = {{(31 - ADDR_WIDTH){1'b0}}, fill_dec} >= limit;
`else
    wire full_inc = fill_inc[ADDR_WIDTH];
    wire full_dec = 1'b0;   // fill <= DEPTH, so fill - 1 < DEPTH
`endif

    assign s_axis_tready = !full;
    assign m_axis_tvalid = out_valid;
    assign {m_axis_tuser, m_axis_tlast, m_axis_tdata} = out_word;

    always @(posedge clk) begin
        if (push) begin
            mem[wr_ptr] <= {s_axis_tuser, s_axis_tlast, s_axis_tdata};
        end
        if (pop) begin
            out_word <= mem[rd_ptr];
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= {ADDR_WIDTH{1'b0}};
            rd_ptr <= {ADDR_WIDTH{1'b0}};
            out_valid <= 1'b0;
            fill <= {(ADDR_WIDTH + 1){1'b0}};
            full <= 1'b0;
            empty <= 1'b1;
        end else begin
            if (up) begin
                fill <= fill_inc;
                full <= full_inc;
                empty <= 1'b0;
            end else if (down) begin
                fill <= fill_dec;
                full <= full_dec;
                empty <= fill_one;
            end
            if (push) begin
                wr_ptr <= wr_ptr + 1'b1;
            end
            if (pop) begin
                rd_ptr <= rd_ptr + 1'b1;
                out_valid <= 1'b1;
            end else if (m_axis_tready) begin
                out_valid <= 1'b0;
            end
        end
    end

endmodule

`default_nettype wire
