/* SPDX-License-Identifier: MIT */
/* prefault.so: preloaded (tlimit -P) into the ASan build's qimg by the
 * interop suites, it maps the program's zero-filled data (.bss) in one
 * madvise(MADV_POPULATE_READ) at start-up.
 *
 * Why: the sanitizer runtime linked into an ASan program holds some 9 MB
 * of tables in its .bss (its stack depots), which LeakSanitizer reads
 * whole at exit, looking for pointers; each 4 KiB page of it read for the
 * first time is a page fault, and on the CI's virtual machine some 2,200
 * faults cost about 10 ms of every ASan qimg run (a sixth of it).  One
 * madvise maps the same pages to the zero page in a single call.  Nothing
 * else changes: the pages read as zeros either way, and a page written
 * later is copied on write as before.  Kernels before 5.14 refuse the
 * advice, and the program runs as it would without this. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* The program's writable segments (the first object dl_iterate_phdr
 * reports is the program itself): their whole pages past the file's data,
 * where .bss lies. */
static int populate_program(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start, end;
	int i;

	(void)size;
	(void)data;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) ||
		    ph->p_memsz <= ph->p_filesz)
			continue;
		start = info->dlpi_addr + ph->p_vaddr + ph->p_filesz;
		end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		start = (start + page - 1) & ~(page - 1);
		end &= ~(page - 1);
		if (end > start)
			(void)madvise((void *)start, end - start,
				      MADV_POPULATE_READ);
	}
	return 1; /* the program only */
}

__attribute__((constructor)) static void prefault(void)
{
	dl_iterate_phdr(populate_program, NULL);
}
