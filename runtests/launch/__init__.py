"""The first pytest process, started before runtests has read its options: spawned (prestart) or forked (fork)."""
