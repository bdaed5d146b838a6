"""The QI forum: /qi-forum, meetings and RSVPs, sign-ups, slots, announcements, changes."""
