# COI "active" filtering by header tests alone, for servers that cannot
# load the coi_deliver plugin: install as a global sieve_before script.
# It files every chat (the COI rule: a Chat-Version header, or a Message-ID
# or first References id beginning with "chat$") into COI/Chats with the
# $Chat keyword. Unlike the plugin it cannot see whether the user enabled
# COI, so it applies to every user it is configured for.
require ["fileinto", "imap4flags", "mailbox"];

if anyof (exists "Chat-Version",
          header :matches "Message-ID" "<chat$*",
          header :matches "References" "<chat$*") {
  addflag "$Chat";
  fileinto :create "COI/Chats";
}
