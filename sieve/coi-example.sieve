# An example personal Sieve script using the vnd.dovecot.coi extension
# (docs/SIEVE.md). Upload it with ManageSieve, or as ~/.dovecot.sieve.
#
# - Mail from senders the user blocked is thrown away. (With the server's
#   own blocking the script does not even run for them; the test is for
#   servers where blocking at delivery is switched off.)
# - Chats are kept: where the user asked the server to file chats
#   (message-filter "active") keep lands in <root>/Chats, otherwise in
#   INBOX; chats never get an auto-reply.
# - Other mail gets a vacation reply, and mailing lists go to a folder
#   under the user's COI mailbox root only to show the environment items.
require ["vnd.dovecot.coi", "environment", "variables", "fileinto",
         "mailbox", "vacation"];

if coi_blocked {
  discard;
  stop;
}

if coi_chat {
  keep;
  stop;
}

if allof (exists "List-Id",
          environment :is "vnd.dovecot.coi.enabled" "yes",
          environment :matches "vnd.dovecot.coi.mailbox-root" "*") {
  fileinto :create "${1}/Lists";
  stop;
}

vacation :days 1 :subject "Away"
  "I am away until Monday and read my mail then. Chat messages reach me as usual.";
