import json

from django.core.management.base import BaseCommand

from backend.core.cli import text_table
from backend.images.apis import TaskListApi
from backend.images.selectors import task_list


class Command(BaseCommand):
    help = "List the synthesis tasks: the slugs `ingest --task` takes (admins add more with POST /api/tasks/)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON list (as the API shows them).")

    def handle(self, *args, **opts):
        tasks = list(task_list())
        if opts["json"]:
            self.stdout.write(json.dumps(TaskListApi.TaskOutputSerializer(tasks, many=True).data))
            return
        rows = [("slug", "conditional", "name")]
        rows += [(t.slug, "yes" if t.is_conditional else "no", t.name) for t in tasks]
        self.stdout.write(text_table(rows))
