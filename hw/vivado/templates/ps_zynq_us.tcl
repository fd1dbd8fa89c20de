# Zynq UltraScale+ processing system (zynq_ultra_ps_e), part of build.tcl.
create_bd_cell -type ip -vlnv [latest_vlnv xilinx.com:ip:zynq_ultra_ps_e:*] ps
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} \
    [get_bd_cells ps]
# M_AXI_HPM0_FPD for control, S_AXI_HP0_FPD for data; the other AXI ports off (an enabled port
# with an unconnected clock fails validation)
set_property -dict [list \
    CONFIG.PSU__USE__M_AXI_GP0 {1} \
    CONFIG.PSU__USE__M_AXI_GP1 {0} \
    CONFIG.PSU__USE__M_AXI_GP2 {0} \
    CONFIG.PSU__USE__S_AXI_GP2 {1} \
    CONFIG.PSU__FPGA_PL0_ENABLE {1} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {${clock_mhz}} \
] [get_bd_cells ps]
set ps_clk ps/pl_clk0
set ps_resetn ps/pl_resetn0
set ps_ctrl_master ps/M_AXI_HPM0_FPD
set ps_data_slave ps/S_AXI_HP0_FPD
set ps_aclk_pins [list ps/maxihpm0_fpd_aclk ps/saxihp0_fpd_aclk]
set ps_clock_actual [get_property CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ [get_bd_cells ps]]
