# Users for config/local-mail-rt.toml, created or reset every start:
# a requester (unprivileged) and an agent (privileged).
use strict;
use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT;
RT::LoadConfig();
RT::Init();
for my $u (['poc', 'pocpass', 0], ['agent', 'agentpass', 1]) {
    my ($name, $password, $privileged) = @$u;
    my $user = RT::User->new(RT->SystemUser);
    $user->Load($name);
    unless ($user->id) {
        my ($ok, $msg) = $user->Create(Name => $name, EmailAddress => "$name\@example.test", Privileged => $privileged);
        die "cannot create $name: $msg\n" unless $ok;
    }
    my ($ok, $msg) = $user->SetPassword($password);
    die "cannot set the password of $name: $msg\n" unless $ok || $msg =~ /already/i;
}
