"""What `qi-nudge serve` runs: settings, the HTTP host, scheduler, leader and delivery."""
