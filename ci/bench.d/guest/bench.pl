# Text processing in the spirit of 400.perlbench: tokenising, hashes,
# regular expressions with captures and substitutions, sorting, sprintf,
# string building and a pure-perl checksum.  Needs only perl-base.
use strict;
use warnings;

my $file = shift @ARGV;
open(my $fh, '<', $file) or die "$file: $!";
local $/ = "";    # paragraph mode
my (%freq, %bigram, %shape, $paras, $sentences, $numbers, $numsum);
my @long;
while (my $p = <$fh>) {
    $paras++;
    $sentences += () = $p =~ /[.?]+/g;
    while ($p =~ /\b(\d+)\b/g) { $numbers++; $numsum += $1; }
    my @w = map { lc } ($p =~ /([A-Za-z]+)/g);
    for my $i (0 .. $#w) {
        $freq{$w[$i]}++;
        $bigram{"$w[$i] $w[$i+1]"}++ if $i < $#w;
        (my $s = $w[$i]) =~ tr/aeiou/V/;
        $s =~ s/[^V]/C/g;
        $s =~ s/(.)\1+/$1+/g;
        $shape{$s}++;
    }
    # rewrite: swap word pairs, title-case, collapse spaces
    (my $r = $p) =~ s/\b(\w+) (\w+)\b/$2 $1/g;
    $r =~ s/\b([a-z])(\w*)/\u$1$2/g;
    $r =~ s/\s+/ /g;
    push @long, $r if length($r) > 600;
}
close $fh;

# Adler-32 and a small FNV-1a over the rewritten long paragraphs.
my ($s1, $s2, $fnv) = (1, 0, 2166136261);
for my $r (@long) {
    for my $c (unpack('C*', $r)) {
        $s1 = ($s1 + $c) % 65521;
        $s2 = ($s2 + $s1) % 65521;
        $fnv = (($fnv ^ $c) * 16777619) % 4294967296;
    }
}

my @top = (sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq)[0 .. 9];
my @bi = (sort { $bigram{$b} <=> $bigram{$a} || $a cmp $b } keys %bigram)[0 .. 4];
my @sh = (sort { $shape{$b} <=> $shape{$a} || $a cmp $b } keys %shape)[0 .. 4];
printf "perl: %d paragraphs, %d sentences, %d numbers (sum %d)\n",
    $paras, $sentences, $numbers, $numsum;
printf "perl: %d distinct words, %d bigrams, %d shapes, %d long paragraphs\n",
    scalar(keys %freq), scalar(keys %bigram), scalar(keys %shape), scalar(@long);
print "perl: top words: ", join(' ', map { "$_=$freq{$_}" } @top), "\n";
print "perl: top bigrams: ", join(', ', map { "$_=$bigram{$_}" } @bi), "\n";
print "perl: top shapes: ", join(' ', map { "$_=$shape{$_}" } @sh), "\n";
printf "perl: adler32 %08x fnv %08x\n", ($s2 << 16) | $s1, $fnv;
