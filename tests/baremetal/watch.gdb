# gdb commands for watch.elf: gdb_guest_test (ci/lib/guest.sh) runs
# gdb-multiarch -batch with this file once gdb is connected to QEMU's
# gdbstub on a unix socket.  Only what the guest does is printed: no
# addresses of gdb's or QEMU's own.  It ends by detaching, so that the
# program runs on to its end.
set pagination off
set confirm off
set print address off
break watch_ready
continue
printf "at watch_ready: stored word %u, loaded word %u\n", *(unsigned int *)0x90000100, *(unsigned int *)0x90000104
watch *(unsigned int *)0x90000100
rwatch *(unsigned int *)0x90000104
break watch_done
set $stops = 0
while $stops < 20
  continue
  if $pc == watch_done
    loop_break
  end
  set $stops = $stops + 1
  printf "stop %d: round %u, stored word %u, loaded word %u\n", $stops, r, *(unsigned int *)0x90000100, *(unsigned int *)0x90000104
end
printf "watch_done after %d stops\n", $stops
delete
detach
