# Rights for the tests' RT: anyone may open tickets in General (mail through
# rt-mailgate); requesters see, answer and resolve their own tickets (REST2);
# privileged users (the vendor's agents) work tickets.
@ACL = (
  (map { { GroupDomain => 'SystemInternal', GroupType => 'Everyone', Right => $_, Queue => 'General' } }
      qw(CreateTicket ReplyToTicket CommentOnTicket SeeQueue)),
  (map { { GroupDomain => 'RT::Queue-Role', GroupType => 'Requestor', Right => $_, Queue => 'General' } }
      qw(ShowTicket ReplyToTicket ModifyTicket ShowOutgoingEmail)),
  (map { { GroupDomain => 'SystemInternal', GroupType => 'Privileged', Right => $_, Queue => 'General' } }
      qw(ShowTicket ShowTicketComments ReplyToTicket CommentOnTicket ModifyTicket OwnTicket SeeQueue)),
);
1;
