# kuniq.bash - bash completion for kuniq: its options, the values of -w/--windows, --mode, --late,
# --parser, --tz and -o, and file names. Installed as share/bash-completion/completions/kuniq;
# it needs nothing but bash (source it from ~/.bashrc where bash-completion is not installed).

_kuniq_options="-w --windows --tz --uid-field --ts-field --max-frame --parser --threads
	--lateness --late --keep-closed --early --idle-timeout --max-ahead --jump-confirm
	--max-pending --mode --exact-limit --precision --memory-limit
	-b --brokers -t --topic -G --group --output-topic --from-beginning --offset -o -e --exit-at-end
	--stdout --instance-id --at-least-once --changelog-topic --checkpoint-interval --scale-out
	--partials-topic --partials-partitions -X -F --checkpoint --progress --no-progress
	--stats-interval --metrics --metrics-topic -v --verbose -q --quiet -h --help -V --version"

# Completes a comma list: the words already typed stay, the last one is completed.
_kuniq_list()
{
	local cur=$1 values=$2 head="" last=$1
	if [[ $cur == *,* ]]; then
		head=${cur%,*},
		last=${cur##*,}
	fi
	local v
	COMPREPLY=()
	for v in $values; do
		[[ $v == "$last"* && ,$head != *,$v,* ]] && COMPREPLY+=("$head$v")
	done
	# a complete word gets a comma after it, not a space, so the list can go on
	[[ ${#COMPREPLY[@]} -eq 1 ]] && compopt -o nospace 2>/dev/null
}

# Completes the value CUR of option OPT; returns 1 when OPT takes no value.
_kuniq_value()
{
	local opt=$1 cur=$2
	case $opt in
	-w | --windows) _kuniq_list "$cur" "minute hour day week month year" ;;
	--mode) mapfile -t COMPREPLY < <(compgen -W "exact approx auto" -- "$cur") ;;
	--late) mapfile -t COMPREPLY < <(compgen -W "drop update" -- "$cur") ;;
	--parser) mapfile -t COMPREPLY < <(compgen -W "auto scalar avx2" -- "$cur") ;;
	-o | --offset) mapfile -t COMPREPLY < <(compgen -W "beginning end" -- "$cur") ;;
	-X) mapfile -t COMPREPLY < <(compgen -W "list" -- "$cur") ;;
	--tz)
		local zi=/usr/share/zoneinfo
		[[ -d $zi ]] || return 0
		mapfile -t COMPREPLY < <(cd "$zi" && compgen -f -- "$cur" |
			while read -r z; do
				if [[ -d $z ]]; then echo "$z/"; else echo "$z"; fi
			done)
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]] && compopt -o nospace 2>/dev/null
		;;
	--checkpoint | -F) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	--uid-field | --ts-field | --max-frame | --threads | --lateness | --keep-closed | --early | \
		--idle-timeout | --max-ahead | --jump-confirm | --max-pending | --exact-limit | \
		--precision | --memory-limit | -b | --brokers | -t | --topic | -G | --group | \
		--output-topic | --instance-id | --changelog-topic | --checkpoint-interval | \
		--partials-topic | --partials-partitions | --stats-interval | --metrics | \
		--metrics-topic)
		COMPREPLY=() # a value only the user knows
		;;
	*) return 1 ;;
	esac
	return 0
}

_kuniq()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=""
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# --opt=value, whether or not '=' breaks words (COMP_WORDBREAKS)
	if [[ $cur == --*=* ]]; then
		if _kuniq_value "${cur%%=*}" "${cur#*=}"; then
			# the word is the whole --opt=value: each reply keeps its option
			local i
			for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${cur%%=*}=${COMPREPLY[i]}; done
			return 0
		fi
	elif [[ $cur == = ]] && ((COMP_CWORD > 1)); then
		_kuniq_value "$prev" "" && return 0
	elif [[ $prev == = ]] && ((COMP_CWORD > 2)); then
		_kuniq_value "${COMP_WORDS[COMP_CWORD - 2]}" "$cur" && return 0
	fi
	if [[ -n $prev ]] && _kuniq_value "$prev" "$cur"; then
		return 0
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$_kuniq_options" -- "$cur")
		return 0
	fi
	# inputs: JSON-lines files, '-' for stdin
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	compopt -o filenames 2>/dev/null
	return 0
}

complete -F _kuniq kuniq
