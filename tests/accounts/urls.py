"""A minimal protected endpoint, so authentication and throttling are tested through HTTP
with the project's default DRF classes, independent of any one app's views."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmI(APIView):
    def get(self, request):
        return Response({"soeid": request.user.soeid, "default": request.user.is_default})


urlpatterns = [path("whoami", WhoAmI.as_view())]
