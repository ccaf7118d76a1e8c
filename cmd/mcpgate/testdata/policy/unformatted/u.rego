package u
allow if { input.x == 1 }
