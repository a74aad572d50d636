#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# Damage the snapshot table of a qcow2 image (16-bit refcounts) in the ways
# `check -r all` repairs, for check-qcow2.sh.  perl-base is essential on
# Debian, so this needs nothing installed.
#   sntable.pl IMAGE incomplete N   entry N keeps 8 bytes of extra data
#   sntable.pl IMAGE noextra N      entry N keeps none
#   sntable.pl IMAGE bigextra N     entry N gets 2024 bytes (limit 1024)
#   sntable.pl IMAGE overhang K     K more entries than the 65536 allowed,
#                                   in a new table at the end of the file
#                                   (refcounts kept right)
use strict;
use warnings;

my ($img, $mode, $arg) = @ARGV;
die "usage: $0 IMAGE MODE ARG\n" unless defined $arg;
open(my $fh, '+<:raw', $img) or die "$img: $!\n";
local $/;
my $d = <$fh>;

my $cbits = unpack('N', substr($d, 20, 4));
my $cs = 1 << $cbits;
my ($nb, $off) = (unpack('N', substr($d, 60, 4)),
		  unpack('Q>', substr($d, 64, 8)));
my $rt = unpack('Q>', substr($d, 48, 8));
my $order = unpack('N', substr($d, 96, 4));
die "refcount order $order: only 16-bit refcounts\n" unless $order == 4;

# entries: [fixed 40 bytes minus extra size, extra, id, name]
my @e;
my $p = $off;
for (1 .. $nb) {
	my ($idl, $nl) = unpack('nn', substr($d, $p + 12, 4));
	my $xl = unpack('N', substr($d, $p + 36, 4));
	push @e, [ substr($d, $p, 36), substr($d, $p + 40, $xl),
		   substr($d, $p + 40 + $xl, $idl),
		   substr($d, $p + 40 + $xl + $idl, $nl) ];
	$p += 40 + $xl + $idl + $nl;
	$p = ($p + 7) & ~7;
}
my $old_len = $p - $off;

sub table
{
	my $t = '';
	for my $x (@_) {
		my $ent = $x->[0] . pack('N', length($x->[1])) . $x->[1] .
			  $x->[2] . $x->[3];
		$ent .= "\0" x ((8 - length($ent) % 8) % 8);
		$t .= $ent;
	}
	return $t;
}

sub set_refcount
{
	my ($k, $v) = @_;
	my $per = $cs / 2;
	my $rb = unpack('Q>', substr($d, $rt + 8 * int($k / $per), 8));
	die "no refblock for cluster $k\n" unless $rb;
	substr($d, $rb + 2 * ($k % $per), 2) = pack('n', $v);
}

if ($mode eq 'incomplete') {
	$e[$arg][1] = substr($e[$arg][1], 0, 8);
} elsif ($mode eq 'noextra') {
	$e[$arg][1] = '';
} elsif ($mode eq 'bigextra') {
	$e[$arg][1] .= "\0" x (2024 - length($e[$arg][1]));
} elsif ($mode eq 'overhang') {
	my @more;
	for my $i (0 .. 65536 + $arg - 1 - $nb) {
		my ($id, $name) = ($nb + 1 + $i, "x$i");
		push @more, [ pack('Q>NnnNNQ>N', 0, 0, length($id),
				   length($name), 0, 0, 0, 0),
			      pack('Q>Q>Q>', 0, 0, ~0), $id, $name ];
	}
	@e = (@e, @more);
} else {
	die "unknown mode $mode\n";
}
# the fixed part holds the id and name lengths
for my $x (@e) {
	substr($x->[0], 12, 4) = pack('nn', length($x->[2]), length($x->[3]));
}
my $t = table(@e);

if ($mode eq 'overhang') {
	my $new = int((length($d) + $cs - 1) / $cs) * $cs;
	$d .= "\0" x ($new - length($d));
	$d .= $t;
	$d .= "\0" x ((($cs - length($d) % $cs)) % $cs);
	for my $k ($off / $cs .. int(($off + $old_len - 1) / $cs)) {
		set_refcount($k, 0);
	}
	for my $k ($new / $cs .. int(($new + length($t) - 1) / $cs)) {
		set_refcount($k, 1);
	}
	substr($d, 60, 12) = pack('NQ>', scalar(@e), $new);
} else {
	die "table grows past its clusters\n"
		if int(($off + length($t) - 1) / $cs) !=
		   int(($off + $old_len - 1) / $cs);
	substr($d, $off, length($t)) = $t;
}
seek($fh, 0, 0);
print $fh $d;
truncate($fh, length($d));
close($fh) or die "$img: $!\n";
