from django.urls import path

from custody.transparency.api import views

app_name = "custody-log"
urlpatterns = [
    path("checkpoint", views.CheckpointLatestApi.as_view(), name="checkpoint-latest"),
    path("inclusion", views.InclusionProofApi.as_view(), name="inclusion-proof"),
    path("consistency", views.ConsistencyProofApi.as_view(), name="consistency-proof"),
    path("public-key", views.PublicKeyApi.as_view(), name="public-key"),
    path("witness-keys", views.WitnessKeyCreateApi.as_view(), name="witness-key-create"),
    path("cosign", views.CosignatureCreateApi.as_view(), name="cosignature-create"),
]
