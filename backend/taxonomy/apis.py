from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.core.api import paginated_response, query_int
from backend.taxonomy.models import ArtifactClass
from backend.taxonomy.selectors import artifact_class_list, taxonomy_version_list
from backend.taxonomy.services import taxonomy_version_create


class ArtifactClassOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    group = serializers.CharField()
    definition = serializers.CharField()
    taxonomy_version = serializers.IntegerField(source="taxonomy.number")


class TaxonomyApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="Taxonomy version (default: the newest).")],
        responses=ArtifactClassOutputSerializer(many=True),
    )
    def get(self, request):
        qs = artifact_class_list(version=query_int(request.query_params, "version"))
        return paginated_response(queryset=qs, serializer_class=ArtifactClassOutputSerializer,
                                  request=request, view=self)


class TaxonomyVersionListApi(APIView):
    """Taxonomy versions; POST (admins) extends the newest one with new classes."""

    class TaxonomyVersionOutputSerializer(serializers.Serializer):
        number = serializers.IntegerField()
        name = serializers.CharField()
        note = serializers.CharField()
        created_at = serializers.DateTimeField()
        class_count = serializers.SerializerMethodField()

        def get_class_count(self, obj) -> int:
            return len(obj.classes.all())

    class TaxonomyVersionCreateInputSerializer(serializers.Serializer):
        class NewArtifactClassSerializer(serializers.Serializer):
            code = serializers.CharField(max_length=20)
            slug = serializers.SlugField(max_length=80)
            name = serializers.CharField(max_length=120)
            group = serializers.ChoiceField(choices=ArtifactClass.Group.choices)
            definition = serializers.CharField()

        name = serializers.CharField(max_length=100)
        note = serializers.CharField(required=False, allow_blank=True, default="")
        add_classes = NewArtifactClassSerializer(many=True, allow_empty=False)

    @extend_schema(responses=TaxonomyVersionOutputSerializer(many=True))
    def get(self, request):
        qs = taxonomy_version_list()
        return paginated_response(queryset=qs, serializer_class=self.TaxonomyVersionOutputSerializer, request=request,
                                  view=self)

    @extend_schema(request=TaxonomyVersionCreateInputSerializer, responses={201: TaxonomyVersionOutputSerializer})
    def post(self, request):
        data = self.TaxonomyVersionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = taxonomy_version_create(**data.validated_data)
        return Response(self.TaxonomyVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)
