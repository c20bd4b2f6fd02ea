#compdef lstmcalc

_lstmcalc_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _LSTMCALC_COMPLETE=complete_zsh lstmcalc)
}

compdef _lstmcalc_completion lstmcalc
