# COI "active" filtering by header tests alone, for servers that cannot
# load the coi_deliver plugin: install as a global sieve_before script
# (docs/SIEVE.md). It files every chat into COI/Chats with the $Chat
# keyword, as coi_deliver does for users who enabled COI with
# message-filter "active". Unlike the plugin it cannot see whether a user
# enabled COI, so it applies to every user it is configured for; change
# "COI/Chats" if your coi_mailbox_root or hierarchy separator differ.
#
# A chat (coi-server-spec.md) has a Chat-Version header, or its first
# Message-ID header, or its first References header, begins with a
# message id that begins with "chat$" (case-sensitive). Before the "<"
# the header may have blanks and comments, "(...)" with quoted pairs,
# nested up to three levels deep (the plugin accepts any depth);
# blanks after "<" are skipped; the id must not be just "chat$".
#
# In Sieve strings every backslash is doubled: the regular expression is
#   ^([[:blank:]]|COMMENT)*<[[:blank:]]*chat[$][^>]+>
# where COMMENT is [(]([^()\]|[\].|COMMENT)*[)], written out three
# levels deep.
require ["fileinto", "imap4flags", "mailbox", "index", "regex"];

if anyof (exists "Chat-Version",
          header :index 1 :comparator "i;octet" :regex "Message-ID"
            "^([[:blank:]]|[(]([^()\\]|[\\].|[(]([^()\\]|[\\].|[(]([^()\\]|[\\].)*[)])*[)])*[)])*<[[:blank:]]*chat[$][^>]+>",
          header :index 1 :comparator "i;octet" :regex "References"
            "^([[:blank:]]|[(]([^()\\]|[\\].|[(]([^()\\]|[\\].|[(]([^()\\]|[\\].)*[)])*[)])*[)])*<[[:blank:]]*chat[$][^>]+>") {
  fileinto :create :flags "$Chat" "COI/Chats";
}
