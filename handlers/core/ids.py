"""Action and form ids: the one place they are spelt, shared by handlers and transports."""

# Buttons
RSVP = "rsvp"  # value: "<meeting id>:<answer>"
FORUM_MATCH = "forum_match"  # value: "<forum member id>:yes|no"
FORUM_ROLE = "forum_role"  # value: "<forum member id>:<role>" or ":unsaid"
JOIN_AS = "join_as"  # value: "<project id>:<role>"
JOIN_FORUM = "join_forum"  # value: "<forum id>", or "<forum id>:<role>" (joining again)
LEAVE = "leave"  # value: "project:<id>" or "forum:<id>"
OPEN_ADD_MEMBER = "open_add_member"  # value: "<project id>"

# Forms
JOIN_FORM = "join_form"
ADD_MEMBER_FORM = "add_member_form"

FORUM_TARGET = "forum"  # the join form's value for a forum: "forum:<forum id>"
SHOW_FORUM = "show_forum"  # value: ""
MORE_PROJECTS = "more_projects"  # value: JSON [last name key, last project id, what was asked]

# The weekly nudge
ASK_FORUM = "ask_forum"  # value: "<project id>"
OPEN_SNOOZE = "open_snooze"  # value: "<project id>"
# The next few of a long reminder, or of the organisers' note, with their buttons.
MORE_WAITING = "more_waiting"  # value: "<week>:<lead id>:<weeks in a row>:<last project id>"
MORE_ESCALATED = "more_escalated"  # value: "<week>:<weeks in a row>:<last project id>"
MUTE_NUDGES = "mute_nudges"  # value: "off" (stop reminders) or "on" (start them again)
SNOOZE_FORM = "snooze_form"  # context: "<project id>"

# Forum slots
SLOT_DECIDE = "slot_decide"  # value: "<slot request id>:accept" or ":decline"

# Matchmaking
MATCH_OFFER = "match_offer"  # to the lead; value: "<match offer id>:yes" or ":no"
MATCH_ANSWER = "match_answer"  # to the person; value: "<match offer id>:yes", ":no" or ":stop"

# Looking after a team (the project card's "Change or remove someone")
OPEN_CHANGE_MEMBER = "open_change_member"  # value: "<project id>"
CHANGE_MEMBER_FORM = "change_member_form"  # context: "<project id>"
REMOVE_MEMBER = "remove_member"  # value: "<membership id>" (the confirm step's yes)
KEEP_MEMBER = "keep_member"  # value: "<membership id>" (the confirm step's no)
# Finding things by name
RUN_SUGGESTED = "run_suggested"  # value: JSON [command, its text with a suggested name in it]

# Leaving the forum with meetings to come (issue 17)
LEFT_FORUM_GOING = "left_forum_going"  # value: "<forum member id>:still" or ":off"

# People outside chat (issue 18): buttons that e-mail and texts turn into signed links.
# value: "" (the person the message goes to confirms their address), or "<forum id>:<role>"
# (they agree to hear about one more forum, in that role, or "" for none said)
CONFIRM_CONTACT = "confirm_contact"

# The run chart (issue 19): "What does this mean?" under /qi-stats.
EXPLAIN_CHART = "explain_chart"  # value: "<weeks in the baseline>:<rule>,<rule>"
# How involved people feel (issue 19): the question to service users and carers.
INVOLVEMENT_ANSWER = "involvement_answer"  # value: "<answer row id>:<answer>"
OPEN_INVOLVEMENT_COMMENT = "open_involvement_comment"  # value: "<answer row id>"
INVOLVEMENT_COMMENT_FORM = "involvement_comment_form"  # context: "<answer row id>"
INVOLVEMENT_QUESTIONS = "involvement_questions"  # value: "off" (stop asking me) or "on"
