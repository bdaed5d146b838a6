"""What every handler uses: context, replies, wording, arguments, finding things by name."""
