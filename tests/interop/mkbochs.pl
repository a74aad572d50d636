#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# Write a Bochs growing (redolog) image, for bochs.sh and the fuzz corpus.
# perl-base is essential on Debian, so this needs nothing installed.
#   mkbochs.pl OUT [key=value ...]
#     version=2|1        header layout (0x00020000 or 0x00010000), 2
#     disk=N             disk size in bytes, 1 MiB
#     extent=N           extent size in bytes, 4096
#     catalog=N          catalog entries, disk/extent rounded up
#     bitmap=N           bitmap size in bytes, extent/512/8 rounded up
#     header=N           header size field (where the catalog starts), 512
#     map=I:S,I:S        extent I is stored in slot S (others unallocated);
#                        slots past 4095 are named but not written
#     bits=S:HEX,...     the first bitmap bytes of slot S (default all ones)
#     length=N           cut or extend the file to N bytes at the end
# Slot S holds the bitmap, then the data: every sector of it is filled
# with "slot S sector K " repeated, so that misplaced reads show.
use strict;
use warnings;

my $out = shift @ARGV or die "usage: $0 OUT [key=value ...]\n";
my %a = (version => 2, disk => 1048576, extent => 4096, header => 512);
for (@ARGV) {
	my ($k, $v) = /^([a-z]+)=(.*)$/ or die "bad argument $_\n";
	$a{$k} = $v;
}
my $ext = $a{extent};
$a{catalog} //= int(($a{disk} + $ext - 1) / $ext);
$a{bitmap} //= int(($ext / 512 + 7) / 8) || 1;

my %map = map { split /:/ } grep { length } split /,/, ($a{map} // '');
my %bits = map { split /:/ } grep { length } split /,/, ($a{bits} // '');

my $h = pack('a32 a16 a16', 'Bochs Virtual HD Image', 'Redolog', 'Growing');
$h .= pack('V V V V V', $a{version} == 1 ? 0x10000 : 0x20000, $a{header},
	$a{catalog}, $a{bitmap}, $ext);
if ($a{version} == 1) {
	$h .= pack('V V', $a{disk} % 2**32, int($a{disk} / 2**32));
} else {
	$h .= pack('V V V', 0, $a{disk} % 2**32, int($a{disk} / 2**32));
}
$h .= "\0" x (512 - length $h);
$h .= "\0" x ($a{header} - 512) if $a{header} > 512;
$h = substr($h, 0, $a{header}) if $a{header} < 512;

my @cat = (0xffffffff) x $a{catalog};
$cat[$_] = $map{$_} for keys %map;
my $data = $h . pack('V*', @cat);

my $bmbytes = (1 + int(($a{bitmap} - 1) / 512)) * 512;
my $slots = 0;
for (values %map) { $slots = $_ + 1 if $_ + 1 > $slots && $_ < 4096 }
# With length=, nothing past it is built (a bitmap can be 2 GiB long).
my $cap = $a{length};
for my $s (0 .. $slots - 1) {
	last if defined $cap && length $data >= $cap;
	my $n = $a{bitmap};
	$n = $cap - length $data if defined $cap && $n > $cap - length $data;
	my $bm = "\xff" x $n;
	if (defined $bits{$s}) {
		my $b = pack('H*', $bits{$s});
		substr($bm, 0, length $b) = $b;
	}
	$data .= $bm . "\0" x ($bmbytes - $a{bitmap});
	for my $k (0 .. $ext / 512 - 1) {
		my $t = "slot $s sector $k ";
		$data .= substr($t x (int(512 / length $t) + 1), 0, 512);
	}
}
if (defined $a{length}) {
	if ($a{length} < length $data) {
		$data = substr($data, 0, $a{length});
	} else {
		$data .= "\0" x ($a{length} - length $data);
	}
}
open(my $fh, '>:raw', $out) or die "$out: $!\n";
print $fh $data;
close($fh) or die "$out: $!\n";
