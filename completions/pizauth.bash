# bash completion for pizauth (pizauth-dbus): commands, their flags, and account names.
#
# Account names come from `pizauth status`, whose lines are "<name>: <state text>"; the state
# texts are fixed, so the name is everything before the last ": " that starts one (names may
# contain spaces and colons). Asking for status may start the server through D-Bus activation,
# as the first `pizauth show` would.

_pizauth_accounts() {
	pizauth status 2>/dev/null |
		sed -nE 's/^(.*): (No access token|Access token|Active access token).*$/\1/p'
}

_pizauth() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="complete dump info refresh reload restore revoke server show shutdown status"
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		return
	fi
	local cmd=${COMP_WORDS[1]} flags="" i given=0
	case $cmd in
	show) flags="-u -w" ;;
	refresh) flags="-u" ;;
	info) flags="-j" ;;
	server) flags="-c -d -v" ;;
	esac
	if [[ $cmd == server && $prev == -c ]]; then
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
	fi
	[[ $cmd == show && $prev == -w ]] && return # a number of seconds: nothing to offer
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
		return
	fi
	case $cmd in
	show | refresh | revoke | complete)
		for ((i = 2; i < COMP_CWORD; i++)); do
			if [[ ${COMP_WORDS[i]} == -w ]]; then
				((i++)) # its value is not an account
			elif [[ ${COMP_WORDS[i]} != -* ]]; then
				given=1
			fi
		done
		((given)) && return
		# What was typed so far, without the shell quoting a name with spaces needs.
		local typed=$cur name
		typed=${typed#[\"\']}
		typed=${typed//\\/}
		while IFS= read -r name; do
			[[ $name == "$typed"* ]] && COMPREPLY+=("$(printf '%q' "$name")")
		done < <(_pizauth_accounts)
		;;
	esac
}

complete -F _pizauth pizauth
