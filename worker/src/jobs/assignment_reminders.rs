//! `assignment_reminders`: the daily `assignment_due_soon` and
//! `assignment_overdue` notices, each once per assignment and due date.

use launchpad_domain::{
    jobs::Failure,
    kinds::{AssignmentReminders, AssignmentRemindersOutput, AssignmentRemindersPayload},
    notifications::reminders,
};

use crate::runtime::{Handler, JobContext};

impl Handler for AssignmentReminders {
    async fn run(
        ctx: &JobContext,
        _p: AssignmentRemindersPayload,
    ) -> Result<AssignmentRemindersOutput, Failure> {
        let mut tx = ctx.db.begin().await?;
        let out = reminders::run(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}
