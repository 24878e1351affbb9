"""Where each history chain ends: the anchor that makes removing a chain's newest row detectable."""

from django.db import models


class ChainHead(models.Model):
    """The newest history row of one record, written in the same transaction as that row.

    Not itself tracked: it is an index of the chains, checked by licensing.audit.verification.
    """

    record_type = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    history_id = models.BigIntegerField()
    row_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["record_type", "object_id"], name="chain_head_one_per_record")]

    def __str__(self):
        return f"{self.record_type} {self.object_id}: row {self.history_id}"
