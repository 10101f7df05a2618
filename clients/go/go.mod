module forkjournal

go 1.19
