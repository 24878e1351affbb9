"""Create the fictional Riverbend Health demo, and optionally bulk organizations for benchmarks."""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from licensing import demo


class Command(BaseCommand):
    help = (
        "Create fictional demo data (the Riverbend Health system, its affiliates, applications, counts, "
        "licenses and AMA applications for the current license year and the three before it, dated relative to "
        "today) and the demo logins. Safe to run again: nothing is created twice. "
        "--scale N adds N more organizations with their applications, counts and licenses for benchmarks."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=int,
            default=0,
            metavar="N",
            help=(
                "Also bulk-create N benchmark organizations (3 applications each, with counts and licenses for last "
                "year and this year)."
            ),
        )
        parser.add_argument(
            "--actor",
            metavar="USERNAME",
            help="Person recorded in the history as having made these changes (default: the demo administrator).",
        )

    def handle(self, *args, scale: int, actor: str | None = None, **options):
        if scale < 0:
            raise CommandError("--scale must be zero or more.")
        person = None
        if actor:
            person = get_user_model().objects.filter(username=actor).first()
            if person is None:
                raise CommandError(
                    f"No person with username '{actor}'. Create the account first, or leave out --actor."
                )
        try:
            seeded = demo.seed_demo(actor=person)
        except ValueError as problem:
            raise CommandError(str(problem)) from problem
        if seeded.created:
            made = ", ".join(f"{number} {name.replace('_', ' ')}" for name, number in seeded.created_counts.items())
            self.stdout.write(self.style.SUCCESS(f"Created the demo health system Riverbend Health: {made}."))
        else:
            self.stdout.write(f"The demo health system ({demo.DEMO_SYSTEM_SLUG}) already exists; nothing to create.")

        if scale:
            started = time.perf_counter()
            run = demo.seed_scale(organizations=scale, actor=seeded.admin)
            seconds = time.perf_counter() - started
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created {run.organizations} benchmark organizations ({run.first_slug} to {run.last_slug}), "
                    f"{run.applications} applications, {run.user_counts} user counts, {run.licenses} licenses "
                    f"and {run.history_rows} history rows in {seconds:.1f} s."
                )
            )

        self.stdout.write("\nDemo logins (fictional accounts; change or remove them outside a demo):")
        for login in seeded.logins:
            self.stdout.write(f"  {login.role:<20} username: {login.username:<14} password: {login.password}")
