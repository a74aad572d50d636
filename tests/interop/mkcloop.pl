#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# Write a cloop V2.0 image for the tests (create_compressed_fs need not be
# installed): mkcloop.pl OUT [key=value ...]
#   block=N      block size (default 65536)
#   blocks=N     number of blocks of data (default 4)
#   nblocks=N    the header's block count (default: blocks)
#   data=SPEC    per block: p (pattern), z (zeros), r (pseudo-random),
#                comma-separated, repeated as needed (default p)
#   off=I:V,...  offsets table entry I set to V after the layout
#   bad=I:KIND   block I stored as KIND: garbage, short, long, raw, empty,
#                trail (a valid stream followed by junk)
#   magic=TEXT   preamble ("v3" for a V3.0 one)
use strict;
use warnings;
use Compress::Zlib;

my $out = shift @ARGV or die "usage: mkcloop.pl OUT [key=value ...]\n";
my %o = (block => 65536, blocks => 4, data => 'p', off => '', bad => '',
	magic => '');
for (@ARGV) {
	my ($k, $v) = split /=/, $_, 2;
	die "unknown key $k\n" unless exists $o{$k} || $k eq 'nblocks';
	$o{$k} = $v;
}
$o{nblocks} //= $o{blocks};
my $pre = "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=\$0 && mount -r -t "
	. "iso9660 /dev/cloop \$1\nexit \$?\n";
$pre = "#!/bin/sh\n#V3.0 Format\n" if $o{magic} eq 'v3';
my @kinds = split /,/, $o{data};
my %bad = map { split /:/ } grep { length } split /,/, $o{bad};
my $seed = 12345;
my @blocks;
for my $i (0 .. $o{blocks} - 1) {
	my $k = $kinds[$i % @kinds];
	my $d;
	if ($k eq 'z') {
		$d = "\0" x $o{block};
	} elsif ($k eq 'r') {
		$d = '';
		while (length($d) < $o{block}) {
			$seed = ($seed * 1103515245 + 12345) & 0x7fffffff;
			$d .= pack('N', $seed);
		}
		$d = substr($d, 0, $o{block});
	} else {
		$d = join('', map { chr(($i * 7 + $_) & 255) } 0 .. 255)
			x ($o{block} / 256 + 1);
		$d = substr($d, 0, $o{block});
	}
	my $c = compress($d);
	my $b = $bad{$i} // '';
	$c = 'garbage' x 10 if $b eq 'garbage';
	$c = compress(substr($d, 0, 1000)) if $b eq 'short';
	$c = compress($d . 'x' x 512) if $b eq 'long';
	$c = '' if $b eq 'empty';
	$c .= 'junk' if $b eq 'trail';
	if ($b eq 'raw') {
		my ($def) = deflateInit(-WindowBits => -15);
		$c = $def->deflate($d) . $def->flush();
	}
	push @blocks, $c;
}
my $pos = 128 + 8 + 8 * (@blocks + 1);
my @offs = ($pos);
for (@blocks) {
	$pos += length;
	push @offs, $pos;
}
for (grep { length } split /,/, $o{off}) {
	my ($i, $v) = split /:/;
	$offs[$i] = $v;
}
open(my $f, '>:raw', $out) or die "$out: $!\n";
print $f pack('a128', $pre), pack('NN', $o{block}, $o{nblocks});
print $f map { pack('NN', int($_ / 4294967296), $_ % 4294967296) } @offs;
print $f @blocks;
close($f) or die "$out: $!\n";
