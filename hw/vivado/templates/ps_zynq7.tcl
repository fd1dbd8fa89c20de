# Zynq-7000 processing system (processing_system7), part of build.tcl.
create_bd_cell -type ip -vlnv [latest_vlnv xilinx.com:ip:processing_system7:*] ps
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} \
    [get_bd_cells ps]
set_property -dict [list \
    CONFIG.PCW_USE_M_AXI_GP0 {1} \
    CONFIG.PCW_USE_S_AXI_HP0 {1} \
    CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
    CONFIG.PCW_EN_CLK0_PORT {1} \
    CONFIG.PCW_EN_RST0_PORT {1} \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {${clock_mhz}} \
] [get_bd_cells ps]
set ps_clk ps/FCLK_CLK0
set ps_resetn ps/FCLK_RESET0_N
set ps_ctrl_master ps/M_AXI_GP0
set ps_data_slave ps/S_AXI_HP0
set ps_aclk_pins [list ps/M_AXI_GP0_ACLK ps/S_AXI_HP0_ACLK]
set ps_clock_actual [get_property CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ [get_bd_cells ps]]
