"""Domain objects to API bodies. Image URLs come from the ImageUrls port (the CDN's, or
presigned S3 GETs)."""

from __future__ import annotations

import base64

from imagepipe.api.schemas import (
    ImageDetail,
    ImageErrorOut,
    ImageSummary,
    MultipartTargetOut,
    ObjectOut,
    PartTargetOut,
    SearchResult,
    SimilarOut,
    ThumbnailOut,
    UploadOut,
    UploadTargetOut,
    VariantOut,
)
from imagepipe.domain.model import Image, MultipartTarget, PartTarget, UploadResult
from imagepipe.domain.ports import ImageUrls


def upload_out(result: UploadResult) -> UploadOut:
    target = result.upload
    upload: UploadTargetOut | MultipartTargetOut | None = None
    if isinstance(target, MultipartTarget):
        upload = MultipartTargetOut(
            key=target.key,
            upload_id=target.upload_id,
            part_size=target.part_size,
            part_count=target.part_count,
            expires_at=target.expires_at,
        )
    elif target is not None:
        upload = UploadTargetOut(
            url=target.url,
            fields=target.fields,
            headers=target.headers,
            expires_at=target.expires_at,
        )
    return UploadOut(
        image_id=result.image.image_id,
        is_new=result.is_new,
        status=result.image.status.value,
        upload=upload,
    )


def part_target_out(target: PartTarget) -> PartTargetOut:
    return PartTargetOut(
        part_number=target.number,
        url=target.url,
        headers=target.headers,
        expires_at=target.expires_at,
    )


def _thumbnail(image: Image, urls: ImageUrls) -> ThumbnailOut | None:
    if image.thumbnail is None:
        return None
    data_uri = None
    if image.thumbnail.data:
        data_uri = "data:image/webp;base64," + base64.b64encode(image.thumbnail.data).decode()
    return ThumbnailOut(
        url=urls.url(image.thumbnail.key),
        width=image.thumbnail.width,
        height=image.thumbnail.height,
        data_uri=data_uri,
    )


def _summary_fields(image: Image, urls: ImageUrls) -> dict[str, object]:
    return {
        "image_id": image.image_id,
        "status": image.status.value,
        "filename": image.filename,
        "content_type": image.content_type,
        "size": image.size,
        "width": image.width,
        "height": image.height,
        "created_at": image.created_at,
        "uploaded_at": image.uploaded_at,
        "processed_at": image.processed_at,
        "thumbnail": _thumbnail(image, urls),
    }


def image_summary(image: Image, urls: ImageUrls) -> ImageSummary:
    return ImageSummary.model_validate(_summary_fields(image, urls))


def image_detail(
    image: Image,
    urls: ImageUrls,
    similar: list[tuple[Image, int]] | None = None,
) -> ImageDetail:
    original = None
    if image.original_key:
        original = ObjectOut(
            key=image.original_key,
            url=urls.url(image.original_key),
        )
    error = None
    if image.error_code:
        error = ImageErrorOut(code=image.error_code, message=image.error_message)
    variants = [
        VariantOut(
            name=v.name,
            format=v.format,
            width=v.width,
            height=v.height,
            size=v.size,
            key=v.key,
            url=urls.url(v.key),
        )
        for v in image.variants
    ]
    return ImageDetail.model_validate(
        {
            **_summary_fields(image, urls),
            "sha256": image.sha256,
            "error": error,
            "original": original,
            "variants": variants,
            "metadata": image.metadata,
            "similar": [
                SimilarOut(
                    image_id=other.image_id,
                    distance=distance,
                    filename=other.filename,
                    thumbnail=_thumbnail(other, urls),
                )
                for other, distance in similar or []
            ],
        }
    )


def search_result(image: Image, score: float, urls: ImageUrls) -> SearchResult:
    tags = image.metadata.get("tags")
    return SearchResult(
        image_id=image.image_id,
        score=round(score, 4),
        filename=image.filename,
        tags=[str(tag) for tag in tags] if isinstance(tags, list) else [],
        thumbnail=_thumbnail(image, urls),
    )
