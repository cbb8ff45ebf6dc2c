//! Calendar data we emit: iCalendar (RFC 5545) objects for iTIP (RFC 5546)
//! invitations, updates and cancellations sent by e-mail (iMIP, RFC 6047).

pub mod ics;
