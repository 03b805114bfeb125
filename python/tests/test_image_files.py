"""DICOM and NIfTI output (larmor.write_dicom, larmor.write_nifti, larmor recon --format) against independent readers
and the physics: pydicom and nibabel read the files; dciodvfy (dicom3tools) validates them; where a pixel lies is
computed two ways, from the DICOM tags (PS3.3 C.7.6.2.1.1) and from the raw data's geometry, and must agree to
0.01 mm; and a point object placed at a known offset in k-space (through a ReconSession with oblique geometry)
must appear in the DICOM image at that offset in patient coordinates, which checks the centring convention
itself (pixel n//2 is the field-of-view centre) and its sign, not only its consistency.

Geometries: transverse, sagittal, coronal, oblique and double-oblique; odd and even matrices; interleaved slice
order; 3D; a time series; magnitude, phase and complex images.
"""
import glob
import os
import shutil
import subprocess

import numpy as np
import pytest

import larmor

pydicom = pytest.importorskip("pydicom")
nibabel = pytest.importorskip("nibabel")
if not hasattr(larmor, "write_dicom"):
    pytest.skip("module built without bind_image_files", allow_module_level=True)

DCIODVFY = shutil.which("dciodvfy")


def rotation(a, b, c):
    """Read, phase, slice unit vectors (LPS): the identity frame rotated about z, y, x by a, b, c rad."""
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rz = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rx = np.array([[1, 0, 0], [0, cc, -sc], [0, sc, cc]])
    m = rz @ ry @ rx
    return m[:, 0], m[:, 1], m[:, 2]


GEOMETRIES = {
    # name: (read, phase, slice) in LPS
    "transverse": (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])),
    "sagittal": (np.array([0, 1.0, 0]), np.array([0, 0, -1.0]), np.array([-1.0, 0, 0])),
    "coronal": (np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), np.array([0, 1.0, 0])),
    "oblique": rotation(0.3, 0, 0),
    "double_oblique": rotation(0.3, -0.2, 0.45),
}


def header_pixel(meta, shape, x, y, z=0):
    """LPS of pixel (x, y, z) from the raw geometry: the centre `position` at index n//2 along each axis."""
    nz, ny, nx = shape
    fov = np.array(meta["fov_mm"], float)
    d = fov / np.array([nx, ny, nz])
    r, p, s = (np.array(meta[k], float) for k in ("read_dir", "phase_dir", "slice_dir"))
    c = np.array(meta["position"], float)
    return c + (x - nx // 2) * d[0] * r + (y - ny // 2) * d[1] * p + (z - nz // 2) * d[2] * s


def dicom_pixel(ds, x, y):
    """LPS of pixel (column x, row y) from the DICOM tags."""
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    return ipp + x * col_spacing * iop[:3] + y * row_spacing * iop[3:]


def stack(geometry, nx, ny, slices, order, thickness=4.0, gap=1.0, reps=1, kind="magnitude", rng=None):
    """A multi-slice stack: images with a pattern that identifies each pixel, metas with the geometry; slices
    made in `order` (interleaved acquisitions)."""
    read, phase, normal = GEOMETRIES[geometry]
    centre = np.array([12.5, -30.0, 41.0])
    images, metas = [], []
    for t in range(reps):
        for s in order:
            pos = centre + (s - (slices - 1) / 2) * (thickness + gap) * normal
            yy, xx = np.mgrid[0:ny, 0:nx]
            img = (1.0 + xx + 1000.0 * yy + 100000.0 * s + 10.0 * t).astype(np.float32)[None]
            if kind == "phase":
                img = ((xx + 3 * yy + s) % 7 / 7.0 * 2 * np.pi - np.pi + 0.01).astype(np.float32)[None]
            if kind == "complex":
                img = (img + 1j * (img[:, ::-1, :] * 0.5)).astype(np.complex64)
            images.append(img)
            metas.append(dict(fov_mm=[nx * 1.5, ny * 1.25, thickness], position=list(pos), read_dir=list(read),
                              phase_dir=list(phase), slice_dir=list(normal), slice=s, repetition=t, contrast=0,
                              phase=0, set=0, image_type=kind))
    return images, metas


def read_series(directory):
    files = sorted(glob.glob(os.path.join(directory, "**", "*.dcm"), recursive=True))
    return [pydicom.dcmread(f) for f in files], files


def dicom_errors(files):
    """dciodvfy's errors over every file."""
    errors = []
    for f in files:
        out = subprocess.run([DCIODVFY, f], capture_output=True, text=True, timeout=60)
        errors += [f"{os.path.basename(f)}: {l}" for l in (out.stdout + out.stderr).splitlines() if l.startswith("Error")]
    return errors


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("nx,ny", [(64, 48), (63, 47)])
def test_dicom_geometry_and_pixels(tmp_path, geometry, nx, ny):
    images, metas = stack(geometry, nx, ny, 5, order=[0, 2, 4, 1, 3])
    larmor.write_dicom(images, metas, str(tmp_path))
    ds_list, files = read_series(str(tmp_path))
    assert len(ds_list) == 5
    if DCIODVFY:
        assert dicom_errors(files) == []
    by_slice = {}
    for ds in ds_list:
        pix = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        s = int(round((pix[0, 0] - 1.0) / 100000.0))  # the pattern says which slice this is
        by_slice[s] = (ds, pix)
    assert sorted(by_slice) == [0, 1, 2, 3, 4]
    for s, (ds, pix) in by_slice.items():
        i = [m["slice"] for m in metas].index(s)
        ref = images[i][0]
        assert pix.shape == ref.shape
        np.testing.assert_allclose(pix, ref, atol=float(ds.RescaleSlope))  # within one quantisation step
        for (x, y) in [(0, 0), (nx - 1, 0), (0, ny - 1), (nx // 2, ny // 2), (nx - 1, ny - 1)]:
            np.testing.assert_allclose(dicom_pixel(ds, x, y), header_pixel(metas[i], ref[None].shape, x, y), atol=0.01)
        normal = np.cross([float(v) for v in ds.ImageOrientationPatient[:3]],
                          [float(v) for v in ds.ImageOrientationPatient[3:]])
        np.testing.assert_allclose(float(ds.SliceLocation), dicom_pixel(ds, 0, 0) @ normal, atol=0.01)
        assert float(ds.SliceThickness) == pytest.approx(4.0)
        assert float(ds.SpacingBetweenSlices) == pytest.approx(5.0)
    # one series, one frame of reference, unique instances
    assert len({ds.SeriesInstanceUID for ds in ds_list}) == 1
    assert len({ds.FrameOfReferenceUID for ds in ds_list}) == 1
    assert len({ds.SOPInstanceUID for ds in ds_list}) == 5
    assert all(ds.SOPInstanceUID.startswith("2.25.") and len(ds.SOPInstanceUID) <= 64 for ds in ds_list)


def nifti_affine_from_dicom(ds_sorted):
    """The RAS affine of a slice stack from its DICOM tags (nibabel's convention: voxel (i, j, k) = column i,
    row j, slice k in the given order)."""
    iop = np.array([float(v) for v in ds_sorted[0].ImageOrientationPatient])
    row_sp, col_sp = (float(v) for v in ds_sorted[0].PixelSpacing)
    first = np.array([float(v) for v in ds_sorted[0].ImagePositionPatient])
    last = np.array([float(v) for v in ds_sorted[-1].ImagePositionPatient])
    k = (last - first) / (len(ds_sorted) - 1)
    a = np.eye(4)
    a[:3, 0], a[:3, 1], a[:3, 2], a[:3, 3] = iop[:3] * col_sp, iop[3:] * row_sp, k, first
    return np.diag([-1, -1, 1, 1]) @ a  # LPS -> RAS


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_nifti_affine_equals_the_dicom_affine_and_slices_are_ordered(tmp_path, geometry):
    images, metas = stack(geometry, 33, 40, 6, order=[1, 3, 5, 0, 2, 4], reps=3)
    larmor.write_dicom(images, metas, str(tmp_path / "dcm"))
    path = str(tmp_path / "out.nii.gz")
    assert larmor.write_nifti(images, metas, path) == [path]
    nii = nibabel.load(path)
    assert nii.shape == (33, 40, 6, 3)
    ds_list, _ = read_series(str(tmp_path / "dcm"))
    first_rep = [ds for ds in ds_list if int(ds.TemporalPositionIdentifier) == 1]
    normal = np.cross([float(v) for v in first_rep[0].ImageOrientationPatient[:3]],
                      [float(v) for v in first_rep[0].ImageOrientationPatient[3:]])
    first_rep.sort(key=lambda ds: np.array([float(v) for v in ds.ImagePositionPatient]) @ normal)
    ref = nifti_affine_from_dicom(first_rep)
    np.testing.assert_allclose(nii.affine, ref, atol=1e-3)
    # The qform stores the rotation as a quaternion whose a = sqrt(1 - b^2 - c^2 - d^2) is rebuilt from float32 b, c,
    # d: for rotations near 180 degrees (coronal and sagittal frames are) the format itself holds it to ~1e-3.
    # The sform (what nibabel's affine is) is exact.
    np.testing.assert_allclose(nii.header.get_qform(), ref, atol=5e-3)
    assert int(nii.header["qform_code"]) == 1 and int(nii.header["sform_code"]) == 1
    data = np.asarray(nii.dataobj)
    # slice k of the volume is the k-th along the normal, whatever the acquisition order
    for k, ds in enumerate(first_rep):
        pix = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(data[:, :, k, 0].T, pix, atol=float(ds.RescaleSlope))
    # a time series: repetition t in the 4th dimension
    np.testing.assert_allclose(data[:, :, :, 2] - data[:, :, :, 0], 20.0, atol=1e-3)
    # the DICOM pixel (x, y) of slice k at the same RAS point as NIfTI voxel (x, y, k)
    for (x, y) in [(0, 0), (32, 39), (16, 20)]:
        ras = nii.affine @ np.array([x, y, 3, 1.0])
        lps = dicom_pixel(first_rep[3], x, y)
        np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=0.01)


def test_phase_and_complex_series(tmp_path):
    images, metas = stack("oblique", 32, 32, 2, order=[0, 1], kind="phase")
    larmor.write_dicom(images, metas, str(tmp_path / "p"))
    ds_list, files = read_series(str(tmp_path / "p"))
    for ds in ds_list:
        assert list(ds.ImageType)[2] == "P"
        pix = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        s = [m["slice"] for m in metas].index(0) if ds.InstanceNumber == 1 else 1
        np.testing.assert_allclose(pix, images[s][0], atol=2 * np.pi / 4095)
    images, metas = stack("oblique", 32, 32, 2, order=[0, 1], kind="complex")
    series = larmor.write_dicom(images, metas, str(tmp_path / "c"))
    assert [s["description"].split()[-1] for s in series] == ["real", "imaginary"]
    assert len({s["series_instance_uid"] for s in series}) == 2
    ds_list, files = read_series(str(tmp_path / "c"))
    if DCIODVFY:
        assert dicom_errors(files) == []
    assert {list(ds.ImageType)[2] for ds in ds_list} == {"R", "I"}
    path = str(tmp_path / "c.nii")
    larmor.write_nifti(images, metas, path)
    assert np.asarray(nibabel.load(path).dataobj).dtype == np.complex64


def test_irregular_stacks_and_missing_geometry_are_refused_for_nifti(tmp_path):
    images, metas = stack("transverse", 16, 16, 3, order=[0, 1, 2])
    metas[2]["position"] = list(np.array(metas[2]["position"]) + [0, 0, 2.0])  # a gap of 7 mm instead of 5
    with pytest.raises(ValueError, match="equally spaced"):
        larmor.write_nifti(images, metas, str(tmp_path / "x.nii"))
    assert not os.path.exists(tmp_path / "x.nii")
    images, metas = stack("transverse", 16, 16, 1, order=[0])
    metas[0]["read_dir"] = [0, 0, 0]
    with pytest.raises(ValueError, match="geometry"):
        larmor.write_nifti(images, metas, str(tmp_path / "y.nii"))
    # DICOM writes it, flagged, without a position
    larmor.write_dicom(images, metas, str(tmp_path / "d"))
    ds = read_series(str(tmp_path / "d"))[0][0]
    assert "ImagePositionPatient" not in ds
    assert "no geometry" in ds.ImageComments


HEADER = """<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
<subjectInformation><patientName>Doe^Jane</patientName><patientID>P-0042</patientID>
<patientBirthdate>1970-03-01</patientBirthdate><patientGender>F</patientGender></subjectInformation>
<studyInformation><studyDate>2026-12-07</studyDate><studyTime>08:30:00</studyTime><studyID>ST1</studyID></studyInformation>
<measurementInformation><measurementID>1_2_3</measurementID><patientPosition>HFS</patientPosition>
<protocolName>larmor_oblique_gre</protocolName></measurementInformation>
<acquisitionSystemInformation><systemVendor>larmor-sim</systemVendor><systemFieldStrength_T>5.0</systemFieldStrength_T>
</acquisitionSystemInformation>
<experimentalConditions><H1resonanceFrequency_Hz>212900000</H1resonanceFrequency_Hz></experimentalConditions>
<encoding><encodedSpace><matrixSize><x>{nx}</x><y>{ny}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>{fx}</x><y>{fy}</y><z>5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>{nx}</x><y>{ny}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>{fx}</x><y>{fy}</y><z>5</z></fieldOfView_mm></reconSpace>
<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{ym}</maximum><center>{yc}</center>
</kspace_encoding_step_1></encodingLimits>
<trajectory>cartesian</trajectory></encoding>
<sequenceParameters><TR>12.5</TR><TE>4.2</TE><flipAngle_deg>15</flipAngle_deg><sequence_type>Flash</sequence_type>
</sequenceParameters></ismrmrdHeader>"""


@pytest.mark.parametrize("nx,ny", [(64, 48), (63, 49)])
def test_a_point_appears_where_the_raw_geometry_puts_it(tmp_path, nx, ny):
    """k-space of a point at (ox, oy) mm from the FOV centre along read and phase, pushed through a session with a
    double-oblique geometry: the brightest DICOM pixel lies at centre + ox read + oy phase (patient coordinates)."""
    fx, fy = 1.5 * nx, 2.0 * ny
    dx, dy = fx / nx, fy / ny
    ox, oy = 7 * dx, -5 * dy
    read, phase, normal = GEOMETRIES["double_oblique"]
    centre = np.array([-20.0, 15.0, 60.0])
    header = HEADER.format(nx=nx, ny=ny, fx=fx, fy=fy, ym=ny - 1, yc=ny // 2)
    session = larmor.ReconSession(header, method="rss")
    kx = (np.arange(nx) - nx // 2) / fx  # cycles / mm
    out = []
    for y in range(ny):
        ky = (y - ny // 2) / fy
        line = np.exp(-2j * np.pi * (kx * ox + ky * oy)).astype(np.complex64)
        out += session.push(np.stack([line, 0.5 * line]), kspace_encode_step_1=y, center_sample=nx // 2,
                            position=list(centre), read_dir=list(read), phase_dir=list(phase),
                            slice_dir=list(normal), flags=(1 << 7) if y == ny - 1 else 0)
    out += session.finish()
    assert len(out) == 1
    images = [img for img, _ in out]
    metas = [m for _, m in out]
    larmor.write_dicom(images, metas, str(tmp_path), header=header)
    (ds,), files = read_series(str(tmp_path))
    if DCIODVFY:
        assert dicom_errors(files) == []
    pix = ds.pixel_array
    y, x = np.unravel_index(np.argmax(pix), pix.shape)
    np.testing.assert_allclose(dicom_pixel(ds, x, y), centre + ox * read + oy * phase, atol=0.01)
    # the header's identity and timing
    assert str(ds.PatientName) == "Doe^Jane" and ds.PatientID == "P-0042" and ds.PatientSex == "F"
    assert ds.PatientBirthDate == "19700301" and ds.StudyDate == "20261207" and ds.StudyTime.startswith("083000")
    assert float(ds.MagneticFieldStrength) == 5.0
    assert float(ds.RepetitionTime) == 12.5 and float(ds.EchoTime) == pytest.approx(4.2)
    assert float(ds.FlipAngle) == 15 and ds.ProtocolName == "larmor_oblique_gre"
    assert float(ds.ImagingFrequency) == pytest.approx(212.9)
    assert ds.PatientPosition == "HFS" and ds.Modality == "MR"


def test_3d_volume_one_instance_per_partition(tmp_path):
    nz, ny, nx = 8, 20, 24
    read, phase, normal = GEOMETRIES["double_oblique"]
    img = np.arange(nz * ny * nx, dtype=np.float32).reshape(nz, ny, nx) + 1
    meta = dict(fov_mm=[36.0, 30.0, 16.0], position=[5.0, -7.0, 20.0], read_dir=list(read), phase_dir=list(phase),
                slice_dir=list(normal), slice=0, repetition=0, contrast=0, phase=0, set=0, image_type="magnitude")
    larmor.write_dicom([img], [meta], str(tmp_path / "d"))
    ds_list, files = read_series(str(tmp_path / "d"))
    assert len(ds_list) == nz
    if DCIODVFY:
        assert dicom_errors(files) == []
    for ds in ds_list:
        z = int(ds.InstanceNumber) - 1
        np.testing.assert_allclose(dicom_pixel(ds, 3, 5), header_pixel(meta, img.shape, 3, 5, z), atol=0.01)
        pix = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(pix, img[z], atol=float(ds.RescaleSlope))
        assert float(ds.SliceThickness) == pytest.approx(2.0) and float(ds.SpacingBetweenSlices) == pytest.approx(2.0)
    path = str(tmp_path / "v.nii.gz")
    larmor.write_nifti([img], [meta], path)
    nii = nibabel.load(path)
    assert nii.shape == (nx, ny, nz)
    for (x, y, z) in [(0, 0, 0), (23, 19, 7), (3, 5, 4)]:
        ras = nii.affine @ np.array([x, y, z, 1.0])
        np.testing.assert_allclose(ras[:3], header_pixel(meta, img.shape, x, y, z) * [-1, -1, 1], atol=0.01)
    np.testing.assert_array_equal(np.asarray(nii.dataobj).transpose(2, 1, 0), img)


HEADER_3D = HEADER.replace("<z>1</z></matrixSize>", "<z>{nz}</z></matrixSize>").replace(
    "<z>5</z></fieldOfView_mm>", "<z>{fz}</z></fieldOfView_mm>").replace(
    "</kspace_encoding_step_1></encodingLimits>",
    "</kspace_encoding_step_1><kspace_encoding_step_2><minimum>0</minimum><maximum>{zm}</maximum><center>{zc}"
    "</center></kspace_encoding_step_2></encodingLimits>")


@pytest.mark.parametrize("nz", [8, 7])
def test_a_point_in_3d_appears_where_the_raw_geometry_puts_it(tmp_path, nz):
    """The same in 3D, with an offset along the partition (slice) direction too: checks that partition k of the
    image lies along +slice_dir, as kspace_encode_step_2 is defined."""
    nx, ny = 32, 24
    fx, fy, fz = 48.0, 36.0, 2.5 * nz
    dx, dy, dz = fx / nx, fy / ny, fz / nz
    ox, oy, oz = -4 * dx, 3 * dy, 2 * dz
    read, phase, normal = GEOMETRIES["double_oblique"]
    centre = np.array([3.0, -8.0, 25.0])
    header = HEADER_3D.format(nx=nx, ny=ny, nz=nz, fx=fx, fy=fy, fz=fz, ym=ny - 1, yc=ny // 2, zm=nz - 1, zc=nz // 2)
    session = larmor.ReconSession(header, method="rss")
    kx = (np.arange(nx) - nx // 2) / fx
    out = []
    for z in range(nz):
        kz = (z - nz // 2) / fz
        for y in range(ny):
            ky = (y - ny // 2) / fy
            line = np.exp(-2j * np.pi * (kx * ox + ky * oy + kz * oz)).astype(np.complex64)
            out += session.push(line[None], kspace_encode_step_1=y, kspace_encode_step_2=z, center_sample=nx // 2,
                                position=list(centre), read_dir=list(read), phase_dir=list(phase),
                                slice_dir=list(normal))
    out += session.finish()
    assert len(out) == 1
    larmor.write_dicom([out[0][0]], [out[0][1]], str(tmp_path), header=header)
    ds_list, files = read_series(str(tmp_path))
    assert len(ds_list) == nz
    if DCIODVFY:
        assert dicom_errors(files) == []
    peak = max(ds_list, key=lambda ds: ds.pixel_array.max())
    y, x = np.unravel_index(np.argmax(peak.pixel_array), peak.pixel_array.shape)
    np.testing.assert_allclose(dicom_pixel(peak, x, y), centre + ox * read + oy * phase + oz * normal, atol=0.01)
    assert peak.MRAcquisitionType == "3D"
    path = str(tmp_path / "v.nii")
    larmor.write_nifti([out[0][0]], [out[0][1]], path, header=header)
    nii = nibabel.load(path)
    i, j, k = np.unravel_index(np.argmax(np.asarray(nii.dataobj)), nii.shape)
    ras = nii.affine @ np.array([i, j, k, 1.0])
    np.testing.assert_allclose(ras[:3], (centre + ox * read + oy * phase + oz * normal) * [-1, -1, 1], atol=0.01)


def test_long_and_non_ascii_values_fit_their_value_representations(tmp_path):
    images, metas = stack("oblique", 16, 16, 3, order=[0, 1, 2])
    header = HEADER.format(nx=16, ny=16, fx=24, fy=20, ym=15, yc=8).replace(
        "Doe^Jane", "Müller^Zoë " + "ä" * 80).replace("P-0042", "ID" * 40).replace(
        "larmor_oblique_gre", "Protokoll für die Tests " + "ß" * 80)
    larmor.write_dicom(images, metas, str(tmp_path), header=header)
    ds_list, files = read_series(str(tmp_path))
    if DCIODVFY:
        assert dicom_errors(files) == []
    ds = ds_list[0]
    # at most 64 bytes, whole characters: the name ends with a complete "ä"
    name = str(ds.PatientName)
    assert name.startswith("Müller^Zoë ä") and len(name.encode()) <= 64 and name.endswith("ä")
    assert len(ds.PatientID) == 64 and ds.ProtocolName.startswith("Protokoll für") and len(ds.ProtocolName.encode()) <= 64


def test_spacing_study_uid_and_reruns(tmp_path):
    images, metas = stack("transverse", 16, 16, 3, order=[0, 1, 2])
    metas[2]["position"] = list(np.array(metas[2]["position"]) + [0, 0, 2.0])  # gaps 5 and 7 mm
    header = HEADER.format(nx=16, ny=16, fx=24, fy=20, ym=15, yc=8)
    larmor.write_dicom(images, metas, str(tmp_path / "a"), header=header)
    ds_list, _ = read_series(str(tmp_path / "a"))
    assert all("SpacingBetweenSlices" not in ds for ds in ds_list)  # irregular: not written
    # a second run of the same scan (say, its phase images): the same study and frame of reference
    larmor.write_dicom(images, metas, str(tmp_path / "b"), header=header)
    again, _ = read_series(str(tmp_path / "b"))
    assert again[0].StudyInstanceUID == ds_list[0].StudyInstanceUID
    assert again[0].FrameOfReferenceUID == ds_list[0].FrameOfReferenceUID
    assert again[0].SeriesInstanceUID != ds_list[0].SeriesInstanceUID
    # into the same directory: refused, the first run's files untouched
    with pytest.raises(RuntimeError, match="exists"):
        larmor.write_dicom(images, metas, str(tmp_path / "a"), header=header)
    assert len(read_series(str(tmp_path / "a"))[1]) == 3
    # NaN: one clear error naming the image, nothing written
    images[1] = images[1].copy()
    images[1][0, 3, 3] = np.nan
    with pytest.raises(RuntimeError, match="image 1 .*NaN"):
        larmor.write_dicom(images, metas, str(tmp_path / "c"))
    assert read_series(str(tmp_path / "c"))[1] == []


def test_a_failing_nifti_stack_leaves_earlier_files_alone(tmp_path):
    good, gm = stack("transverse", 16, 16, 3, order=[0, 1, 2])
    path = str(tmp_path / "o.nii")
    larmor.write_nifti(good, gm, path)
    before = open(path, "rb").read()
    # two stacks (contrast 0 good, contrast 1 irregular): refused, o.nii from the first run kept as it was
    bad, bm = stack("transverse", 16, 16, 3, order=[0, 1, 2])
    for m in bm:
        m["contrast"] = 1
    bm[2]["position"] = list(np.array(bm[2]["position"]) + [0, 0, 2.0])
    with pytest.raises(ValueError, match="equally spaced"):
        larmor.write_nifti(good + bad, gm + bm, path)
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["o.nii"]


def test_time_between_volumes_only_when_the_header_says_single_shot(tmp_path):
    images, metas = stack("transverse", 16, 16, 2, order=[0, 1], reps=3)
    gre = HEADER.format(nx=16, ny=16, fx=24, fy=20, ym=15, yc=8)
    larmor.write_nifti(images, metas, str(tmp_path / "gre.nii"), header=gre)
    assert nibabel.load(str(tmp_path / "gre.nii")).header["pixdim"][4] == 0  # segmented: unknown
    epi = gre.replace("<trajectory>cartesian</trajectory>", "<trajectory>epi</trajectory>").replace(
        "<TR>12.5</TR>", "<TR>2000</TR>")
    larmor.write_nifti(images, metas, str(tmp_path / "epi.nii"), header=epi)
    h = nibabel.load(str(tmp_path / "epi.nii")).header
    assert h["pixdim"][4] == pytest.approx(2.0) and h.get_xyzt_units() == ("mm", "sec")


def test_acquisition_times_from_the_readouts_time_stamps(tmp_path):
    """ISMRMRD acquisition_time_stamp (2.5 ms ticks from midnight): DICOM AcquisitionTime, and the NIfTI time between
    volumes measured from them (here 800 ticks = 2.0 s, whatever the header's TR says)."""
    images, metas = stack("transverse", 16, 16, 2, order=[1, 0], reps=3)
    t0 = (8 * 3600 + 30 * 60 + 15) * 400  # 08:30:15.000
    for m in metas:
        m["acquisition_time_stamp"] = t0 + 800 * m["repetition"] + 20 * m["slice"]
    header = HEADER.format(nx=16, ny=16, fx=24, fy=20, ym=15, yc=8)
    larmor.write_dicom(images, metas, str(tmp_path / "d"), header=header)
    ds_list, files = read_series(str(tmp_path / "d"))
    if DCIODVFY:
        assert dicom_errors(files) == []
    times = sorted((int(ds.TemporalPositionIdentifier), ds.AcquisitionTime) for ds in ds_list)
    assert times[0] == (1, "083015.000000") and times[-1][0] == 3 and times[-1][1].startswith("083019.0")
    larmor.write_nifti(images, metas, str(tmp_path / "t.nii"), header=header)
    assert nibabel.load(str(tmp_path / "t.nii")).header["pixdim"][4] == pytest.approx(2.0)


def test_a_point_with_readout_oversampling_and_a_smaller_recon_fov(tmp_path):
    """Readouts with 2x oversampling (encoded FOV twice the recon FOV along x): the chain keeps the central half,
    and the point still lies where the raw geometry puts it."""
    nx, ny = 40, 30
    fx, fy = 60.0, 45.0
    dx, dy = fx / nx, fy / ny
    ox, oy = 6 * dx, 4 * dy
    read, phase, normal = GEOMETRIES["oblique"]
    centre = np.array([10.0, 20.0, -30.0])
    header = HEADER.format(nx=nx, ny=ny, fx=fx, fy=fy, ym=ny - 1, yc=ny // 2).replace(
        f"<encodedSpace><matrixSize><x>{nx}</x>", f"<encodedSpace><matrixSize><x>{2 * nx}</x>").replace(
        f"<fieldOfView_mm><x>{fx}</x><y>{fy}</y><z>5</z></fieldOfView_mm></encodedSpace>",
        f"<fieldOfView_mm><x>{2 * fx}</x><y>{fy}</y><z>5</z></fieldOfView_mm></encodedSpace>")
    assert f"<x>{2 * nx}</x>" in header and f"<x>{2 * fx}</x>" in header
    session = larmor.ReconSession(header, method="rss")
    kx = (np.arange(2 * nx) - nx) / (2 * fx)  # the oversampled readout: twice the points over twice the FOV
    out = []
    for y in range(ny):
        ky = (y - ny // 2) / fy
        line = np.exp(-2j * np.pi * (kx * ox + ky * oy)).astype(np.complex64)
        out += session.push(line[None], kspace_encode_step_1=y, center_sample=nx, position=list(centre),
                            read_dir=list(read), phase_dir=list(phase), slice_dir=list(normal),
                            flags=(1 << 7) if y == ny - 1 else 0)
    out += session.finish()
    img, meta = out[0]
    assert img.shape[-1] == nx and meta["fov_mm"][0] == pytest.approx(fx)
    larmor.write_dicom([img], [meta], str(tmp_path), header=header)
    (ds,), files = read_series(str(tmp_path))
    if DCIODVFY:
        assert dicom_errors(files) == []
    y, x = np.unravel_index(np.argmax(ds.pixel_array), ds.pixel_array.shape)
    np.testing.assert_allclose(dicom_pixel(ds, x, y), centre + ox * read + oy * phase, atol=0.01)
    assert float(ds.PixelSpacing[1]) == pytest.approx(dx)
