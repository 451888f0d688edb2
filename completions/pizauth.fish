# fish completion for pizauth (pizauth-dbus): commands, their flags, and account names.
#
# Account names come from `pizauth status`, whose lines are "<name>: <state text>"; the state
# texts are fixed, so the name is everything before the last ": " that starts one (names may
# contain spaces and colons). Asking for status may start the server through D-Bus activation,
# as the first `pizauth show` would.

function __pizauth_accounts
    pizauth status 2>/dev/null | string replace -rf '^(.*): (No access token|Access token|Active access token).*$' '$1'
end

function __pizauth_wants_account
    # True after show, refresh, revoke or complete until an account has been given.
    set -l words (commandline -opc)
    set -e words[1]
    contains -- $words[1] show refresh revoke complete; or return 1
    set -e words[1]
    set -l value 0
    for w in $words
        if test $value = 1
            set value 0 # the seconds after -w, not an account
        else if test "$w" = -w
            set value 1
        else
            string match -q -- '-*' $w; or return 1
        end
    end
    test $value = 0
end

set -l commands complete dump info refresh reload restore revoke server show shutdown status
complete -c pizauth -f
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a complete -d "Finish a sign-in with the address the browser ended on"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a dump -d "Write every token, obfuscated, to standard output"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a info -d "Show the server's settings and state"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a refresh -d "Refresh an account's token now"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a reload -d "Re-read the configuration file"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a restore -d "Read a dump from standard input"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a revoke -d "Forget an account's token"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a server -d "Run the server"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a show -d "Print an account's access token"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a shutdown -d "Stop the server"
complete -c pizauth -n "not __fish_seen_subcommand_from $commands" -a status -d "Show every account's token state"

complete -c pizauth -n "__fish_seen_subcommand_from show refresh" -s u -d "Leave the URL out of the error message"
complete -c pizauth -n "__fish_seen_subcommand_from show" -s w -x -d "Wait up to this many seconds for the sign-in"
complete -c pizauth -n __pizauth_wants_account -a "(__pizauth_accounts)" -d Account
complete -c pizauth -n "__fish_seen_subcommand_from info" -s j -d "Print JSON"
complete -c pizauth -n "__fish_seen_subcommand_from server" -s c -r -F -d "Configuration file"
complete -c pizauth -n "__fish_seen_subcommand_from server" -s d -d "Stay in the foreground, log to standard error"
complete -c pizauth -n "__fish_seen_subcommand_from server" -s v -d "Log more (up to four times)"
